#!/bin/bash
# t/bench/idle-memory.sh [N] - lbd's own memory per idle proxied TCP
# connection: one worker, 1,000 then N (default 5,000) idle connections
# through it to a test backend; prints the worker's VmRSS at each point and
# the growth per connection between the two.  Loopback only; bounded.
set -eu
cd "$(dirname "$0")/../.."
n=${1:-5000}
command -v python3 >/dev/null || { apt-get install -y -q python3 >/dev/null; }
dir=$(mktemp -d /tmp/lbd-bench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || :; done
    wait 2>/dev/null || :
    rm -rf "$dir"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bport=$(port); lport=$(port)
objs/lbd-testsrv -l 127.0.0.1:$bport -n b1 & pids+=($!)
cat > "$dir/lbd.conf" <<CONF
worker_processes = 1;
registry = "$dir/lbd.db";
pid_file = "$dir/lbd.pid";
error_log = { path = "$dir/error.log"; level = "warn"; };
services = ( { name = "b"; listen = "127.0.0.1:$lport"; pool = "p"; } );
pools = ( { name = "p"; backends = ( { address = "127.0.0.1:$bport"; } ); } );
CONF
objs/lbd -g -c "$dir/lbd.conf" 2>>"$dir/error.log" & master=$!; pids+=($master)

timeout 120 python3 - "$master" "$lport" "$n" <<'PY'
import os, socket, sys, time
master, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
deadline = time.time() + 10
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close(); break
    except OSError:
        if time.time() > deadline: sys.exit("lbd did not start")
        time.sleep(0.05)
worker = None
while worker is None and time.time() < deadline:
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1]) == master:
                    worker = int(p)
            except OSError:
                pass
def rss():
    for l in open(f"/proc/{worker}/status"):
        if l.startswith("VmRSS"):
            return int(l.split()[1])
def hold(k):
    socks = []
    for _ in range(k):
        s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"HOLD\n"); socks.append(s)
    for s in socks:
        s.settimeout(10)
        assert s.recv(3) == b"OK\n"
    return socks
a = rss(); first = hold(1000); b = rss(); rest = hold(n - 1000); c = rss()
print(f"worker VmRSS: {a} KB idle, {b} KB at 1000 connections, {c} KB at {n}")
print(f"lbd memory per idle proxied connection: {(c - b) * 1024 / (n - 1000):.0f} bytes")
PY
