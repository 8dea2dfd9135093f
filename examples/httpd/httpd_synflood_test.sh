#!/usr/bin/env bash
# httpd on coronet's own TCP (one engine, TAP) under a spoofed-SYN flood (RFC 4987), in a
# test-made namespace. Real clients (ab without keep-alive, curl) first measure the short-
# connection rate; then tests/netns:synflood sends SYNs from random 198.19.128.0/17 addresses at
# >= 10x that rate (12x asked) for at least 12 s, and until the same clients have run again
# (3000 requests, up to 40 curls; the flood's own limit is 50 s). The listener's SYN queue
# (backlog 1024) fills with the flood's embryonic connections within milliseconds, so every
# legitimate handshake from then on completes through a SYN cookie.
# At that ratio the flood is more than the one engine can read: the kernel's TAP queue drops
# frames before coronet sees them (counted, printed), legitimate SYNs among them. Clients
# therefore get 20 s per request, enough for the kernel's SYN retransmissions at 1, 3, 7, 15 s.
# Asserts: every legitimate request succeeds (ab: 0 failed, curl: the right body) in bounded time;
# the flood is visible in the counters (cookies sent >= half the SYNs sent, and every SYN that
# got past the TAP queue answered; cookies accepted for the legitimate connections); the
# connection table stays bounded (no TCB per flood SYN) and the server's RSS grows by less than
# rss_bound_kb. Bounded: about 30 s when all is well, under 90 s when clients hit timeouts.
# Needs root, curl and ab (apache2-utils). Args: httpd_server synflood lib.sh
set -euo pipefail
server=$1
flood=$2
source "$3"

ifc="cnsyn0"
srv_ip=198.18.9.2
srv_mac=02:00:00:00:09:02
url="http://$srv_ip"
metrics_url="http://$srv_ip:9100/"
backlog=1024            # httpd's ServerConfig::backlog (the SYN queue + accept queue)
flood_min_seconds=12
min_ratio=10
legit_requests=3000
# A TCB is 1840 bytes (sizeof(Tcb), buffers unallocated until data), ~2 KB with its table node.
# The flood may hold the SYN queue's 1024 embryonic TCBs (~2 MB); the ~3100 legitimate
# connections of the flood phase stay as TIME-WAIT TCBs (2 MSL = 60 s, longer than the test)
# (~6 MB). 20 MB leaves room for allocator slack and is still 10x below what one TCB per flood
# SYN would take (>= 10x a legitimate rate of >= 1000/s for 12 s: >= 120k SYNs, >= 240 MB).
rss_bound_kb=$((20 * 1024))

fail() {
  echo "FAIL: $*"
  echo "--- server log (tail)"
  tail -n 30 "$log" || true
  exit 1
}
metric() { prom_sum "$1" <<<"$2"; }
scrape() { in_ns curl -s -m 20 "$metrics_url"; }
tap_drops() { in_ns cat "/sys/class/net/$ifc/statistics/tx_dropped"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
ab_field() { awk -v k="$1" 'index($0, k) == 1 {print $(NF - (k ~ /per second/ ? 2 : 0))}' <<<"$2"; }

ns_init synflood
log=$(ns_tmpfile)
ip netns exec "$NS" "$server" --stack=user --nic="tap:$ifc" --addr="$srv_ip/24" \
  --gateway=198.18.9.1 --mac="$srv_mac" --port=80 --cores=1 --metrics-port=9100 \
  >"$log" 2>&1 &
pid=$!
ns_track_pid "$pid"
ns_tap_up "$ifc" 198.18.9.1/24 || fail "TAP $ifc did not appear"
ns_wait_http "$url/hello" || fail "httpd did not answer"
ns_wait_http "$metrics_url" || fail "metrics port did not answer"
[[ "$(in_ns curl -s -m 5 "$url/hello")" == "Hello, World!" ]] || fail "GET /hello"

# Warm up (allocator, ARP, TIME-WAIT population), then the legitimate accept rate, no flood.
in_ns timeout 15 ab -q -n 1000 -c 4 "$url/hello" >/dev/null 2>&1 || fail "warm-up ab"
out=$(in_ns timeout 15 ab -q -n 3000 -c 4 -s 10 "$url/hello" 2>&1) || fail "baseline ab: $out"
[[ "$(ab_field 'Failed requests:' "$out")" == 0 ]] || fail "baseline ab failures: $out"
base_rate=$(ab_field 'Requests per second:' "$out")
base_rate=${base_rate%.*}
[[ "${base_rate:-0}" -gt 0 ]] || fail "no baseline rate: $out"
flood_rate=$((base_rate * ${SYNFLOOD_MULT:-$((min_ratio + 2))}))
m0=$(scrape)
tap_drops0=$(tap_drops)
rss0=$(rss_kb)
echo "baseline: $base_rate conn/s (ab -n 3000 -c 4, no keep-alive); RSS $rss0 kB;" \
  "flooding at $flood_rate SYN/s"

# The flood: frames written on the kernel side of the TAP go straight to httpd.
flog=$(ns_tmpfile)
ip netns exec "$NS" "$flood" --if="$ifc" --dst-mac="$srv_mac" --dst="$srv_ip" --port=80 \
  --src-net=198.19.128.0/17 --rate="$flood_rate" --seconds=50 >"$flog" 2>&1 &
fpid=$!
ns_track_pid "$fpid"
flood_start=$SECONDS
sleep 1

# Legitimate clients during the flood: ab (short connections) and a curl loop, in parallel.
clog=$(ns_tmpfile)
(
  ok=0
  ran=0
  while ((ran < 40 && SECONDS - flood_start < 20)); do
    ran=$((ran + 1))
    body=$(in_ns curl -s -m 20 "$url/hello") && [[ "$body" == "Hello, World!" ]] && ok=$((ok + 1))
    sleep 0.1
  done
  echo "$ok $ran"
) >"$clog" 2>&1 &
cpid=$!
ns_track_pid "$cpid"
start=$(date +%s%N)
out=$(in_ns timeout 35 ab -q -n "$legit_requests" -c 4 -s 20 "$url/hello" 2>&1) ||
  fail "ab under flood did not finish in 35 s: $out"
ab_ms=$((($(date +%s%N) - start) / 1000000))
wait "$cpid" || true
read -r curl_ok curl_ran <"$clog" || fail "curl loop: $(cat "$clog")"
# Hold the flood for its minimum length, then sample while it still runs.
while ((SECONDS - flood_start < flood_min_seconds)); do sleep 0.5; done
kill -0 "$fpid" 2>/dev/null || fail "the flood ended before the legitimate clients: $(cat "$flog")"
m1=$(scrape) || fail "metrics under flood"
rss1=$(rss_kb)
kill -TERM "$fpid"
wait "$fpid" || fail "synflood: $(cat "$flog")"
sleep 1.5  # one stats interval after the last SYN
m2=$(scrape) || fail "metrics after the flood"
tap_lost=$(($(tap_drops) - tap_drops0))
rss2=$(rss_kb)

echo "$out" | grep -E "Complete requests|Failed requests|Non-2xx|Requests per second"
legit_done=$(ab_field 'Complete requests:' "$out")
legit_failed=$(ab_field 'Failed requests:' "$out")
flood_rate_reached=$(awk '{for (i = 1; i < NF; ++i) if ($(i + 1) == "SYN/s") print int($i)}' \
  "$flog")
syns_sent=$(awk '/^synflood: sent/ {print $3}' "$flog")
during_rate=$(ab_field 'Requests per second:' "$out")
cookies_sent=$(($(metric coronet_tcp_syn_cookies_sent_total "$m2") -
  $(metric coronet_tcp_syn_cookies_sent_total "$m0")))
cookies_accepted=$(($(metric coronet_tcp_syn_cookies_accepted_total "$m2") -
  $(metric coronet_tcp_syn_cookies_accepted_total "$m0")))
dropped=$(($(metric coronet_tcp_syn_dropped_backlog_total "$m2") -
  $(metric coronet_tcp_syn_dropped_backlog_total "$m0")))
rx_drops=$(($(metric coronet_rx_device_drops_total "$m2") -
  $(metric coronet_rx_device_drops_total "$m0")))
conns1=$(metric coronet_tcp_connections "$m1")
tw1=$(metric coronet_tcp_time_wait "$m1")
conns2=$(metric coronet_tcp_connections "$m2")
tw2=$(metric coronet_tcp_time_wait "$m2")
cat "$flog"
echo "flood: $syns_sent SYNs at $flood_rate_reached SYN/s = $((flood_rate_reached / base_rate))x" \
  "the legitimate accept rate ($base_rate conn/s)"
echo "legitimate under flood: ab $legit_done requests, $legit_failed failed, $during_rate conn/s" \
  "(ab: $legit_requests in $ab_ms ms); curl $curl_ok/$curl_ran"
echo "cookies: $cookies_sent sent, $cookies_accepted accepted; SYNs dropped (backlog): $dropped;" \
  "device rx drops: $rx_drops; frames lost in the TAP queue: $tap_lost"
echo "TCBs during the flood: $conns1 ($tw1 TIME-WAIT, $((conns1 - tw1)) other); after:" \
  "$conns2 ($tw2 TIME-WAIT)"
echo "RSS: $rss0 kB before, $rss1 kB during, $rss2 kB after"

[[ "$legit_failed" == 0 ]] || fail "ab under flood: $legit_failed failed requests"
! echo "$out" | grep -q "Non-2xx" || fail "ab under flood: non-2xx responses"
[[ "$legit_done" == "$legit_requests" ]] || fail "ab under flood completed $legit_done requests"
((curl_ran >= 10 && curl_ok == curl_ran)) || fail "curl under flood: $curl_ok/$curl_ran succeeded"
[[ "${syns_sent:-0}" -gt 0 ]] || fail "the flood sent nothing"
((flood_rate_reached >= min_ratio * base_rate)) ||
  fail "flood reached $flood_rate_reached SYN/s, below ${min_ratio}x $base_rate"
((cookies_sent * 2 >= syns_sent)) || fail "cookies sent $cookies_sent < half of $syns_sent SYNs"
# Every flood SYN that reached coronet was answered: by a cookie, or by one of the SYN queue's
# embryonic entries (1% for SYNs that hit an embryonic 4-tuple again).
((cookies_sent + tap_lost + backlog >= syns_sent * 99 / 100)) ||
  fail "SYNs unanswered: $syns_sent sent, $tap_lost lost in the TAP queue, $cookies_sent cookies"
# Every legitimate handshake during the flood found the SYN queue full of flood entries.
((cookies_accepted * 2 >= legit_done)) ||
  fail "cookies accepted $cookies_accepted < half of $legit_done legitimate connections"
# No TCB per flood SYN: besides TIME-WAIT (legitimate connections that ended), at most the SYN
# queue's worth of embryonic flood entries plus the clients' handful of live connections.
((conns1 - tw1 <= backlog + 64)) || fail "$((conns1 - tw1)) non-TIME-WAIT TCBs during the flood"
((conns1 < syns_sent / 10)) || fail "$conns1 TCBs for $syns_sent SYNs"
((rss1 - rss0 < rss_bound_kb && rss2 - rss0 < rss_bound_kb)) ||
  fail "RSS grew from $rss0 kB to $rss1 / $rss2 kB (bound $rss_bound_kb kB)"
grep -qiE "assert|abort|sanitizer" "$log" && fail "server log reports a crash"

kill -TERM "$pid"
wait "$pid" || fail "httpd did not stop cleanly"
NS_PIDS=()
echo "PASS"
