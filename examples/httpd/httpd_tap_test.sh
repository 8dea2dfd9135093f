#!/usr/bin/env bash
# httpd on coronet's own TCP over a two-queue TAP (two engines) in a test-made namespace, driven
# by real clients from the kernel side: curl (GET, POST, HEAD, errors), ab -k (keep-alive), wrk
# with 16-deep pipelining. Every response must be right and both engines must have served.
# Needs root, curl, ab (apache2-utils) and wrk (tools/setup installs them).
# Args: httpd_server pipeline.lua lib.sh
set -euo pipefail
server=$1
lua=$2
source "$3"
ifc="cnhttp0"
fail() { echo "FAIL: $*"; cat "$log"; exit 1; }

ns_init httpd
log=$(ns_tmpfile)
# (not through in_ns: $! must be the server itself, which `ip netns exec` becomes)
ip netns exec "$NS" "$server" --nic="tap:$ifc" --addr=198.18.7.2/24 --port=80 --cores=2 \
  >"$log" 2>&1 &
pid=$!
ns_track_pid "$pid"
ns_tap_up "$ifc" 198.18.7.1/24 || fail "TAP $ifc did not appear"
url=http://198.18.7.2
ns_wait_http "$url/" || true  # (as before: the first GET below finds out)

[[ "$(in_ns curl -s -m 5 "$url/hello")" == "Hello, World!" ]] || fail "GET /hello"
[[ "$(in_ns curl -s -m 5 --data-binary 'coronet echo' "$url/echo")" == "coronet echo" ]] || fail "POST /echo"
body=$(ns_tmpfile)
back=$(ns_tmpfile)
head -c 300000 /dev/urandom >"$body"
in_ns curl -s -m 10 -H 'Transfer-Encoding: chunked' --data-binary @"$body" "$url/echo" -o "$back"
cmp -s "$body" "$back" || fail "chunked 300 kB POST /echo did not come back whole"
[[ "$(in_ns curl -s -m 10 "$url/bytes/1000000" | wc -c)" == "1000000" ]] || fail "GET /bytes/1000000"
in_ns curl -s -m 5 -I "$url/bytes/77" | grep -q "Content-Length: 77" || fail "HEAD"
[[ "$(in_ns curl -s -m 5 -o /dev/null -w '%{http_code}' "$url/nothing")" == "404" ]] || fail "404"
[[ "$(in_ns curl -s -m 5 -o /dev/null -w '%{http_code}' -X DELETE "$url/hello")" == "405" ]] || fail "405"
[[ "$(in_ns curl -s -m 5 -o /dev/null -w '%{http_code}' --http1.0 "$url/hello")" == "200" ]] || fail "HTTP/1.0"

out=$(in_ns ab -k -q -n 20000 -c 16 "$url/hello" 2>&1) || fail "ab: $out"
echo "$out" | grep -E "Requests per second|Failed requests|Non-2xx|Keep-Alive requests"
echo "$out" | grep -q "Failed requests:        0" || fail "ab saw failures"
echo "$out" | grep -q "Complete requests:      20000" || fail "ab did not complete"
! echo "$out" | grep -q "Non-2xx" || fail "ab saw non-2xx responses"

out=$(in_ns wrk -t 2 -c 16 -d 2s -s "$lua" "$url/hello" 2>&1) || fail "wrk: $out"
echo "$out" | grep -E "Requests/sec|requests in|Socket errors|Non-2xx"
! echo "$out" | grep -qE "Socket errors|Non-2xx" || fail "wrk saw errors"

metrics=$(in_ns curl -s -m 5 "$url/metrics")
c0=$(awk -F' ' '/^httpd_requests_total\{core="0"\}/ {print $2}' <<<"$metrics")
c1=$(awk -F' ' '/^httpd_requests_total\{core="1"\}/ {print $2}' <<<"$metrics")
echo "requests per engine: core 0 $c0, core 1 $c1"
[[ "${c0:-0}" -gt 0 && "${c1:-0}" -gt 0 ]] || fail "both engines should have served: $c0 / $c1"

ns_stop "$pid" || fail "httpd did not stop cleanly"
echo "PASS"
