#!/usr/bin/env bash
# loadgen end to end, in a namespace this test makes (loopback and 198.18.6.0/24 only):
#  1. the kernel stack against echo_server (kernel stack) on the namespace's loopback: keepalive
#     and short (open loop too); every request must succeed and the JSON must parse;
#  2. a target with nothing listening: connect_refused errors, exit status 3 (results printed);
#  3. coronet's user stack over a TAP that loadgen creates: the test gives the TAP's kernel side
#     198.18.6.1/24 once it appears, loadgen --wait's for the echo server there; no mismatches;
#  4. HTTP against a small Python HTTP/1.1 server: pipelining, chunked bodies, a 404 counted as
#     http_status, Connection: close answered by reconnecting;
#  5. a bad flag is refused with exit status 2 and names the flag.
# Needs root. Every step is bounded (timeout), everything started is stopped on any exit.
# Args: loadgen echo_server lib.sh
set -euo pipefail
loadgen=$(realpath "$1")
server=$(realpath "$2")
source "$3"
py=/usr/bin/python3
tap="cnlg0"
ns_init loadgen
work=$(ns_tmpdir)

# expect FILE PYTHON-EXPRESSION: the JSON object in FILE (d) satisfies the expression.
expect() {
  "$py" - "$1" "$2" <<'PY' || { echo "FAILED: $2"; cat "$1"; exit 1; }
import json, sys
with open(sys.argv[1]) as f:
    d = json.load(f)  # stdout holds exactly one JSON object
ok = eval(sys.argv[2])
print("ok:" if ok else "NOT:", sys.argv[2])
sys.exit(0 if ok else 1)
PY
}

# wait_listen PORT: until something listens on PORT in the namespace (at most 5 s).
wait_listen() { ns_wait_listen "$1" || { echo "nothing listens on port $1"; exit 1; }; }

# run_loadgen NAME EXPECTED-STATUS ARGS...: runs loadgen in the namespace with --json, shows its
# text report and JSON, checks the exit status.
run_loadgen() {
  local name=$1 want=$2
  shift 2
  local rc=0
  in_ns timeout 60 "$loadgen" "$@" --json >"$work/$name.json" 2>"$work/$name.err" || rc=$?
  echo "== loadgen $*  (exit $rc)"
  grep -v '^\[' "$work/$name.err" || true
  cat "$work/$name.json"
  [[ "$rc" == "$want" ]] || { echo "exit status $rc, expected $want"; cat "$work/$name.err"; exit 1; }
}

ip netns exec "$NS" "$server" --stack=kernel --cores=1 --port=7 >"$work/echo.log" 2>&1 &
ns_track_pid $!
wait_listen 7

# 1. Kernel stack, keep-alive and short connections.
run_loadgen keepalive 0 --stack=kernel --target=127.0.0.1:7 --mode=keepalive --connections=8 \
  --duration=1.5 --warmup=0.5
expect "$work/keepalive.json" 'd["requests"] > 0 and d["errors"]["total"] == 0'
expect "$work/keepalive.json" 'd["latency_us"]["p50"] <= d["latency_us"]["p99"] <= d["latency_us"]["max"]'
cores=1
[[ $(nproc) -ge 2 ]] && cores=2
run_loadgen short 0 --stack=kernel --cores=$cores --target=127.0.0.1:7 --mode=short \
  --connections=8 --duration=1.5 --warmup=0.5
expect "$work/short.json" 'd["requests"] > 0 and d["errors"]["total"] == 0'
expect "$work/short.json" 'd["connections_opened"] == d["requests"] and d["connections_per_s"] > 0'
expect "$work/short.json" "len(d[\"per_core_requests\"]) == $cores and min(d[\"per_core_requests\"]) > 0"
# Open loop: 1000 requests/s for 1 s are exactly 1000 requests.
run_loadgen paced 0 --stack=kernel --target=127.0.0.1:7 --mode=keepalive --rate=1000 \
  --duration=1 --warmup=0.2
expect "$work/paced.json" 'd["requests"] == 1000 and d["errors"]["total"] == 0'

# 2. Nothing listens on port 9: refused connects, counted; exit status 3.
run_loadgen refused 3 --stack=kernel --target=127.0.0.1:9 --mode=short --duration=0.5 --warmup=0
expect "$work/refused.json" 'd["requests"] == 0 and d["errors"]["connect_refused"] > 0'
expect "$work/refused.json" 'd["errors"]["total"] == d["errors"]["connect_refused"]'

# 3. coronet's user stack over a TAP to the same echo server at 198.18.6.1.
user_run() {  # NAME ARGS...: loadgen on the user stack while this shell configures the TAP
  local name=$1
  shift
  ip netns exec "$NS" timeout 60 "$loadgen" --stack=user --nic="tap:$tap" --addr=198.18.6.2/24 \
    --target=198.18.6.1:7 --wait=10 "$@" --json >"$work/$name.json" 2>"$work/$name.err" &
  local lp=$!
  ns_track_pid $lp
  ns_tap_up "$tap" 198.18.6.1/24 || { echo "TAP $tap did not appear"; cat "$work/$name.err"; exit 1; }
  local rc=0
  wait "$lp" || rc=$?
  ns_untrack_pid $lp
  echo "== loadgen --stack=user $*  (exit $rc)"
  grep -v '^\[' "$work/$name.err" || true
  cat "$work/$name.json"
  [[ "$rc" == 0 ]] || { echo "exit status $rc"; cat "$work/$name.err"; exit 1; }
}
user_run user_keepalive --mode=keepalive --connections=8 --duration=1.5 --warmup=0.5
expect "$work/user_keepalive.json" 'd["stack"] == "user" and d["requests"] > 0'
expect "$work/user_keepalive.json" 'd["errors"]["mismatch"] == 0 and d["errors"]["total"] == 0'
if [[ $(nproc) -ge 2 ]]; then  # two engines on a two-queue TAP, flows steered back by RSS
  user_run user_cores --cores=2 --mode=keepalive --connections=8 --duration=1 --warmup=0.5
  expect "$work/user_cores.json" 'd["errors"]["total"] == 0 and min(d["per_core_requests"]) > 0'
fi
# Short connections, paced: coronet keeps each closed port in TIME-WAIT for 60 s, so an unpaced
# run would exhaust the 28,232 ephemeral ports in about a second.
user_run user_short --mode=short --rate=2000 --duration=1 --warmup=0.5
expect "$work/user_short.json" 'd["requests"] == 2000 and d["errors"]["total"] == 0'

# 4. HTTP/1.1: keep-alive, pipelining, chunked bodies, errors by status, Connection: close.
cat >"$work/httpd.py" <<'PY'
import http.server, sys

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        if self.path == "/":
            body = b"hello from python\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n")
        elif self.path == "/close":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"ok")
            self.close_connection = True
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

http.server.ThreadingHTTPServer(("127.0.0.1", 8080), Handler).serve_forever()
PY
ip netns exec "$NS" "$py" "$work/httpd.py" >"$work/httpd.log" 2>&1 &
ns_track_pid $!
wait_listen 8080
run_loadgen http 0 --stack=kernel --target=127.0.0.1:8080 --mode=http --connections=4 \
  --pipeline=4 --duration=1 --warmup=0.2
expect "$work/http.json" 'd["requests"] > 0 and d["errors"]["total"] == 0 and d["pipeline"] == 4'
run_loadgen chunked 0 --stack=kernel --target=127.0.0.1:8080 --mode=http --connections=2 \
  --pipeline=3 --path=/chunked --duration=0.5 --warmup=0
expect "$work/chunked.json" 'd["requests"] > 0 and d["errors"]["total"] == 0'
run_loadgen closing 0 --stack=kernel --target=127.0.0.1:8080 --mode=http --connections=2 \
  --pipeline=2 --path=/close --duration=0.5 --warmup=0
expect "$work/closing.json" 'd["requests"] > 0 and d["errors"]["total"] == 0'
# One response per connection; at the window's edges a request and its connection may fall on
# different sides (a request counts by its first send, a connection by its connect).
expect "$work/closing.json" 'd["connections_opened"] >= d["requests"] - 2 * d["connections"]'
run_loadgen missing 3 --stack=kernel --target=127.0.0.1:8080 --mode=http --connections=2 \
  --path=/missing --duration=0.5 --warmup=0
expect "$work/missing.json" 'd["requests"] == 0 and d["errors"]["http_status"] > 0'
expect "$work/missing.json" 'd["errors"]["total"] == d["errors"]["http_status"]'

# 5. A bad value is refused, naming the flag and the expected form.
rc=0
"$loadgen" --target=127.0.0.1:7 --mode=bogus >"$work/bad.out" 2>&1 || rc=$?
[[ "$rc" == 2 ]] || { echo "bad --mode: exit status $rc, expected 2"; exit 1; }
grep -q -- "--mode=bogus: expected short, keepalive or http" "$work/bad.out"
echo "PASS"
