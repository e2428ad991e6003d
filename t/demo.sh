#!/bin/bash
# t/demo.sh - `make demo`: lbd in the foreground balancing three local demo
# backends, a short show of the balancing and of failover, then (unless CI
# is set) it keeps running until Ctrl-C.  Everything it starts, it stops.
#
# Each demo backend greets a connection with its name and then echoes, so
#     nc 127.0.0.1 PORT
# shows which backend lbd chose.

set -u
cd "$(dirname "$0")/.."

LBD=${LBD_BIN:-objs/lbd}
SRV=${LBD_TESTSRV:-objs/lbd-testsrv}
dir=$(mktemp -d /tmp/lbd-demo.XXXXXX)
pids=()

cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null
    done
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

# Open one connection through lbd and print the greeting (the backend's name).
hello() {
    local line=
    exec 3<>/dev/tcp/127.0.0.1/$port || return 1
    read -r -t 5 line <&3
    exec 3<&-
    [ -n "$line" ] && echo "$line"
}

# N connections; print how many each backend got; fail if any failed.
spread() {
    local n=$1 failed=0 out
    out=$(for _ in $(seq "$n"); do hello || echo FAILED; done | sort | uniq -c)
    echo "$out" | sed 's/^/    /'
    echo "$out" | grep -q FAILED && failed=1
    return $failed
}

start_backend() {   # index
    local i=$1
    "$SRV" -l "127.0.0.1:${bport[$i]}" -n "backend-$i" -b &
    bpid[$i]=$!
    pids+=("${bpid[$i]}")
    wait_port "${bport[$i]}"
}

port=$(free_port 8080)
admin=$(free_port $((port + 1)))
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
declare -a bport bpid
next=9001
for i in 1 2 3; do
    bport[$i]=$(free_port $next)
    next=$((bport[i] + 1))
done

cat > "$dir/lbd.conf" <<EOF
# Written by t/demo.sh
worker_processes = 2;
registry = "$dir/lbd.db";
admin = { listen = "127.0.0.1:$admin"; token = "$token"; };
pid_file = "$dir/lbd.pid";
error_log = { path = "$dir/error.log"; level = "notice"; };
timeouts = { connect = "1s"; idle = "5m"; shutdown = "5s"; };
services = ( { name = "demo"; listen = "127.0.0.1:$port"; mode = "tcp"; pool = "demo"; } );
pools = ( {
    name = "demo";
    strategy = "round_robin";
    backends = (
        { address = "127.0.0.1:${bport[1]}"; weight = 1; },
        { address = "127.0.0.1:${bport[2]}"; weight = 1; },
        { address = "127.0.0.1:${bport[3]}"; weight = 2; }
    );
} );
EOF

for i in 1 2 3; do start_backend $i || exit 1; done
"$LBD" -t -c "$dir/lbd.conf" || exit 1
"$LBD" -g -c "$dir/lbd.conf" 2>>"$dir/error.log" &
lbd=$!
pids+=("$lbd")
wait_port "$port" || { cat "$dir/error.log"; exit 1; }

cat <<EOF

lbd is balancing 127.0.0.1:$port over three demo backends
(weights 1, 1, 2; master pid $lbd; config $dir/lbd.conf).
Each connection is greeted by the backend lbd chose, then echoed:
    nc 127.0.0.1 $port

EOF
status=0
echo "40 connections, round robin with weights 1:1:2:"
spread 40 || status=1

echo "backend-2 goes down; 40 more connections, none of them fails:"
kill "${bpid[2]}"; wait "${bpid[2]}" 2>/dev/null
spread 40 || status=1

echo "backend-2 comes back:"
start_backend 2
spread 40 || status=1

echo "reload (SIGHUP) under the same config; 40 more connections:"
kill -HUP "$lbd"
spread 40 || status=1

echo "drain backend-3 over the admin API; 40 more connections, none to it:"
curl -sS -X PATCH -H "Authorization: Bearer $token" -d '{"state": "drain"}' \
    "http://127.0.0.1:$admin/api/pools/demo/backends/127.0.0.1:${bport[3]}" | sed 's/^/    /'
echo
sleep 0.2
spread 40 || status=1
curl -sS -X PATCH -H "Authorization: Bearer $token" -d '{"state": "up"}' \
    "http://127.0.0.1:$admin/api/pools/demo/backends/127.0.0.1:${bport[3]}" >/dev/null

echo "the registry's history (sqlite3 $dir/lbd.db 'select * from events'):"
sqlite3 -column -header "$dir/lbd.db" \
    "select id, actor, pool, backend, what, old, new from events" | sed 's/^/    /'

echo
echo "the error log ($dir/error.log):"
tail -n 8 "$dir/error.log" | sed 's/^/    /'

if [ -n "${CI:-}" ]; then
    echo
    echo "CI is set: graceful stop (SIGQUIT) and exit"
    kill -QUIT "$lbd"
    wait "$lbd"
    rc=$?
    [ $rc -eq 0 ] || { echo "demo: lbd exited with $rc" >&2; status=1; }
    [ $status -eq 0 ] && echo "demo: ok" || echo "demo: FAILED" >&2
    exit $status
fi

echo
echo "lbd keeps running on 127.0.0.1:$port; press Ctrl-C to stop the demo."
wait "$lbd"
