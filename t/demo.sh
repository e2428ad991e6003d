#!/bin/bash
# t/demo.sh - `make demo`: lbd in the foreground balancing HTTP requests
# over three local demo backends (lbd-testsrv -h) under a steady load
# (lbd-load), while one backend at a time goes offline and comes back, so
# that the status page on the admin port shows the balancing and the
# failover live.  Without CI it runs until Ctrl-C; with CI set it runs a
# short scripted show (about 20 s), checks with lbd-load's counts and
# lbd's /status.json that the balancing and the failover worked, and
# exits non-zero if they did not.  Everything it starts, it stops.

set -u
cd "$(dirname "$0")/.."

LBD=${LBD_BIN:-objs/lbd}
SRV=${LBD_TESTSRV:-objs/lbd-testsrv}
LOAD=${LBD_LOAD:-objs/lbd-load}
dir=$(mktemp -d /tmp/lbd-demo.XXXXXX)
load=

# The load: 20 keepalive connections, 200 requests per second in all (the
# machine may have two cores that the tests share), over paths that take
# 0 to 50 ms so that the latency chart has a shape.
LOAD_ARGS=(-c 20 -r 200 -p / -p '/sleep?ms=5' -p '/sleep?ms=20' -p '/sleep?ms=50'
           -p '/bytes?n=4096&seed=1')

# Stop what this shell started and still runs (jobs -pr: running children
# only, never a pid that may have been reused), then wait for all of them.
cleanup() {
    local live
    trap - EXIT INT TERM
    live=$(jobs -pr)
    [ -z "$live" ] || kill $live 2>/dev/null
    wait
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'echo; echo "stopping the demo"; exit 0' INT TERM

# A free port at or above $1 (nothing answers a connect to it).
free_port() {
    local p=$1
    while (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; do
        p=$((p + 1))
    done
    echo "$p"
}

# Wait until something accepts on port $1 (at most 10 s).
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
        sleep 0.1
    done
    echo "demo: nothing listens on 127.0.0.1:$1" >&2
    return 1
}

# Sleep $1 seconds in the background, so that Ctrl-C (or TERM) is acted on at once.
pause() {
    sleep "$1" &
    wait $!
}

# Print every scalar of the JSON document on stdin as "PATH<TAB>VALUE", PATH
# the keys and array indexes from the root joined by dots, e.g.
# "pools.0.backends.2.status<TAB>up".  Enough JSON for lbd's documents: a
# string's escapes are taken as the character escaped.
json_flat() {
    awk '
    { doc = doc $0 "\n" }
    END {
        n = length(doc); d = 0
        for (i = 1; i <= n; i++) {
            c = substr(doc, i, 1)
            if (c == "{" || c == "[") {
                d++; kind[d] = c; idx[d] = 0; key[d] = ""; want_key = c == "{"
                continue
            }
            if (c == "}" || c == "]") { d--; continue }
            if (c == ",") { if (kind[d] == "[") idx[d]++; else want_key = 1; continue }
            if (c == ":") { want_key = 0; continue }
            if (index(" \t\r\n", c)) continue
            if (c == "\"") {
                v = ""
                for (i++; i <= n && (c = substr(doc, i, 1)) != "\""; i++) {
                    if (c == "\\") c = substr(doc, ++i, 1)
                    v = v c
                }
            } else {
                for (j = i; j <= n && !index(",]} \t\r\n", substr(doc, j, 1)); j++) ;
                v = substr(doc, i, j - i); i = j - 1
            }
            if (kind[d] == "{" && want_key) { key[d] = v; continue }
            path = ""
            for (k = 1; k <= d; k++)
                path = path (k > 1 ? "." : "") (kind[k] == "{" ? key[k] : idx[k])
            print path "\t" v
        }
    }'
}

# Field $2 of the backend whose address is $1, as $status_url has it.
backend_field() {
    curl -sS -m 2 "$status_url" 2>/dev/null | json_flat | awk -F '\t' -v a="$1" -v f="$2" '
        { v[$1] = $2 }
        $2 == a && $1 ~ /\.backends\.[0-9]+\.address$/ { p = substr($1, 1, length($1) - 7) }
        END { if (p != "") print v[p f] }'
}

# Wait up to $3 seconds until backend $1 (an index) shows status $2; print
# how long it took.  Returns 1 if it did not.
wait_status() {
    local i=$1 want=$2 limit=$3 start now got=
    start=$(date +%s%N)
    while :; do
        got=$(backend_field "127.0.0.1:${bport[$i]}" status)
        now=$(date +%s%N)
        if [ "$got" = "$want" ]; then
            printf '    lbd shows backend-%d %s after %d.%01d s\n' "$i" "$want" \
                $(((now - start) / 1000000000)) $(((now - start) / 100000000 % 10))
            return 0
        fi
        if [ $((now - start)) -ge $((limit * 1000000000)) ]; then
            echo "    lbd still shows backend-$i \"$got\" after $limit s, not \"$want\"" >&2
            return 1
        fi
        sleep 0.2
    done
}

start_backend() {   # index
    local i=$1
    "$SRV" -h -l "127.0.0.1:${bport[$i]}" -n "backend-$i" &
    bpid[$i]=$!
    wait_port "${bport[$i]}"
}

stop_backend() {    # index
    local i=$1
    kill "${bpid[$i]}" 2>/dev/null
    wait "${bpid[$i]}" 2>/dev/null
}

# A value of lbd-load's summary line $1: "errors", "5xx", "backend-2"...
load_stat() {
    echo "$1" | grep -o " $2=[0-9]*" | cut -d= -f2 | grep . || echo 0
}

# Run lbd-load for $1 seconds (the rest of the arguments are its own), print
# what it printed and keep its summary in $summary.  With & the caller
# runs it in the background and calls load_done when it ended.
run_load() {
    local secs=$1
    shift
    "$LOAD" "${LOAD_ARGS[@]}" -d "$secs" "$@" "$service" > "$dir/load.out"
    load_done
}
load_done() {
    sed 's/^/    /' "$dir/load.out"
    summary=$(tail -n 1 "$dir/load.out")
}

failed=0
fail() {
    echo "demo: FAILED: $*" >&2
    failed=1
}

port=$(free_port 8080)
admin=$(free_port $((port + 1)))
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
service=http://127.0.0.1:$port/
declare -a bport bpid
next=9001
for i in 1 2 3; do
    bport[$i]=$(free_port $next)
    next=$((bport[i] + 1))
done
status_url=http://127.0.0.1:$admin/status.json

# Health checks every 500 ms (down after 2 failures, up after 2 successes);
# passive detection ejects a backend after 3 failed connections, for 2 s
# at first and never more than 5 s, so that one back soon gets traffic.
cat > "$dir/lbd.conf" <<EOF
# Written by t/demo.sh
worker_processes = 2;
registry = "$dir/lbd.db";
admin = { listen = "127.0.0.1:$admin"; token = "$token"; html = "$PWD/html"; };
pid_file = "$dir/lbd.pid";
error_log = { path = "$dir/error.log"; level = "notice"; };
timeouts = { connect = "1s"; idle = "5m"; shutdown = "5s"; };
services = ( { name = "demo"; listen = "127.0.0.1:$port"; mode = "http"; pool = "demo"; } );
pools = ( {
    name = "demo";
    strategy = "round_robin";
    health_check = { type = "http"; path = "/health"; interval = "500ms"; timeout = "400ms";
                     rise = 2; fall = 2; };
    passive = { failures = 3; ejection = "2s"; max_ejection = "5s"; };
    backends = (
        { address = "127.0.0.1:${bport[1]}"; weight = 1; },
        { address = "127.0.0.1:${bport[2]}"; weight = 1; },
        { address = "127.0.0.1:${bport[3]}"; weight = 2; }
    );
} );
EOF

for i in 1 2 3; do start_backend $i || exit 1; done
"$LBD" -t -c "$dir/lbd.conf" 2>"$dir/test.out" || { cat "$dir/test.out"; exit 1; }
"$LBD" -g -c "$dir/lbd.conf" 2>/dev/null &
lbd=$!
wait_port "$port" && wait_port "$admin" || { cat "$dir/error.log"; exit 1; }

lbctl="objs/lbctl --config $dir/lbd.conf"
page="http://127.0.0.1:$admin/"
cat <<EOF

lbd balances $service over three HTTP backends, round robin:
    backend-1  127.0.0.1:${bport[1]}  weight 1
    backend-2  127.0.0.1:${bport[2]}  weight 1
    backend-3  127.0.0.1:${bport[3]}  weight 2
with health checks every 500 ms.  lbd-load sends it 200 requests/s over 20
connections and counts the answers by X-Server, the backend's name.

    The status page:  $page
    Admin token:      $token   (the page asks for it before a change)
    Status as JSON:   curl -s http://127.0.0.1:$admin/status.json
    The service:      curl -si $service
    lbctl:            $lbctl status
                      $lbctl drain demo 127.0.0.1:${bport[3]}
                      $lbctl enable demo 127.0.0.1:${bport[3]}
                      $lbctl strategy demo least_conn

lbd's master pid is $lbd; its configuration $dir/lbd.conf,
its error log $dir/error.log.
EOF

for i in 1 2 3; do
    wait_status $i up 5 >/dev/null || fail "backend-$i never showed up"
done

if [ -n "${CI:-}" ]; then
    echo
    echo "CI is set: a short show, checked."
    echo
    curl -sSf -o /dev/null "$page" || fail "the status page is not served"
    echo "== 1. balancing: 4 s of load; every backend gets requests (weights 1:1:2)"
    run_load 4
    for i in 1 2 3; do
        [ "$(load_stat "$summary" backend-$i)" -gt 0 ] || fail "backend-$i got no request"
        [ "$(backend_field "127.0.0.1:${bport[$i]}" requests)" -gt 0 ] 2>/dev/null ||
            fail "lbd counts no request for backend-$i"
    done
    [ "$(load_stat "$summary" errors)" -eq 0 ] && [ "$(load_stat "$summary" 5xx)" -eq 0 ] ||
        fail "errors or 5xx with every backend up"

    echo
    echo "== 2. failover: 8 s of load; after 2 s backend-2 goes offline (kill ${bpid[2]})"
    "$LOAD" "${LOAD_ARGS[@]}" -d 8 -i 1 "$service" > "$dir/load.out" &
    load=$!
    pause 2
    stop_backend 2
    echo "    backend-2 is offline"
    wait_status 2 down 5 || fail "lbd did not mark backend-2 down within 5 s"
    wait "$load"
    load=
    load_done
    echo "    the client saw $(load_stat "$summary" errors) errors and $(load_stat "$summary" 5xx) 5xx" \
         "while backend-2 went away"

    echo
    echo "== 3. after the failover: 3 s of load; backend-1 and backend-3 take it all, no error"
    run_load 3
    [ "$(load_stat "$summary" backend-2)" -eq 0 ] || fail "backend-2 got requests while offline"
    [ "$(load_stat "$summary" backend-1)" -gt 0 ] && [ "$(load_stat "$summary" backend-3)" -gt 0 ] ||
        fail "backend-1 and backend-3 did not share the load"
    [ "$(load_stat "$summary" errors)" -eq 0 ] && [ "$(load_stat "$summary" 5xx)" -eq 0 ] ||
        fail "errors or 5xx once backend-2 was down"

    echo
    echo "== 4. backend-2 comes back; 3 s of load, it gets requests again"
    before=$(backend_field "127.0.0.1:${bport[2]}" requests)
    start_backend 2 || fail "backend-2 did not restart"
    wait_status 2 up 5 || fail "lbd did not mark backend-2 up within 5 s"
    run_load 3
    [ "$(load_stat "$summary" backend-2)" -gt 0 ] || fail "backend-2 got no request once back"
    after=$(backend_field "127.0.0.1:${bport[2]}" requests)
    [ "${after:-0}" -gt "${before:-0}" ] 2>/dev/null || fail "lbd counts no new request for backend-2"
    [ "$(load_stat "$summary" errors)" -eq 0 ] && [ "$(load_stat "$summary" 5xx)" -eq 0 ] ||
        fail "errors or 5xx with every backend up again"

    echo
    echo "graceful stop (SIGQUIT)"
    kill -QUIT "$lbd"
    wait "$lbd"
    rc=$?
    [ $rc -eq 0 ] || fail "lbd exited with $rc"
    [ $failed -eq 0 ] && echo "demo: ok" || echo "demo: FAILED" >&2
    exit $failed
fi

cat <<EOF

One backend at a time goes offline for 10 s, with 15 s of all three in
between; lbd-load prints what it saw every 5 s.  Watch the page
$page; press Ctrl-C to stop the demo.

EOF
# lbd-load is bounded: an hour at a time, started again when it ends.
victim=2
while :; do
    jobs -pr | grep -qx "${load:-none}" || { "$LOAD" "${LOAD_ARGS[@]}" -d 3600 -i 5 "$service" & load=$!; }
    pause 15
    echo ">> backend-$victim (127.0.0.1:${bport[$victim]}, pid ${bpid[$victim]}) goes offline"
    stop_backend $victim
    wait_status $victim down 10
    pause 10
    echo ">> backend-$victim comes back"
    start_backend $victim
    wait_status $victim up 10
    victim=$((victim % 3 + 1))
done
