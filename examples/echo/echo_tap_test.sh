#!/usr/bin/env bash
# The tools/demo path as a test: echo_server on coronet's TCP over TAP in a test-made namespace,
# driven by echo_kernel_client (the kernel's TCP) for 2 s; every echo must match. Then the same
# program with --stack=kernel --cores=2 on the namespace's loopback, and the user stack on two
# cores over a two-queue TAP, and over DPDK's net_tap PMD. Needs root.
# Args: echo_server echo_kernel_client lib.sh
set -euo pipefail
server=$1
client=$2
source "$3"
ifc="cnecho0"
ns_init echotap
log=$(ns_tmpfile)
pid=""
trap 'echo "echo_tap_test: failed at line $LINENO"; cat "$log"' ERR
# Starts the server on coronet's TAP ($ifc) with extra flags "$@" (pid in $pid, output in $log)
# and gives the kernel's side of the interface its address once the server has created it.
start_tap_server() {
  ip netns exec "$NS" "$server" --nic="tap:$ifc" --addr=198.18.4.2/24 --port=7 "$@" >"$log" 2>&1 &
  pid=$!
  ns_track_pid "$pid"
  ns_tap_up "$ifc" 198.18.4.1/24 || { echo "TAP $ifc did not appear"; cat "$log"; exit 1; }
}
start_tap_server
out=$(in_ns timeout 30 "$client" 198.18.4.2 7 --conns=4 --seconds=2 --size=100)
echo "$out"
grep -q "errors: 0, mismatched echoes: 0" <<<"$out"
requests=$(awk '/^requests:/ {print $2}' <<<"$out")
[[ "$requests" -gt 1000 ]] || { echo "too few requests: $requests"; cat "$log"; exit 1; }
ns_stop "$pid" || { echo "user-stack server did not stop cleanly"; cat "$log"; exit 1; }
# The same program on the kernel's TCP (io_uring), two cores, inside the namespace (lo is up).
ip netns exec "$NS" "$server" --stack=kernel --cores=2 --port=7 >"$log" 2>&1 &
pid=$!
ns_track_pid "$pid"
ns_wait_listen 7 || true  # (as before: the client below finds out)
out=$(in_ns timeout 30 "$client" 127.0.0.1 7 --conns=4 --seconds=1 --size=100)
echo "$out"
grep -q "errors: 0, mismatched echoes: 0" <<<"$out"
ns_stop "$pid" || { echo "kernel-stack server did not stop cleanly"; cat "$log"; exit 1; }
grep -q "kernel stack (io_uring) on 2 core(s)" "$log" || { cat "$log"; exit 1; }
# The user stack on two cores: a two-queue TAP steered by RSS, one engine per queue. 16
# connections spread over both (all on one core: probability 2^-15); every echo must match.
start_tap_server --cores=2 --metrics-port=9100
out=$(in_ns timeout 30 "$client" 198.18.4.2 7 --conns=16 --seconds=2 --size=100)
echo "$out"
grep -q "errors: 0, mismatched echoes: 0" <<<"$out"
# --metrics-port: every core's counters as Prometheus text (published every 100 ms).
sleep 0.3
metrics=$(in_ns timeout 5 bash -c \
  'exec 3<>/dev/tcp/198.18.4.2/9100; printf "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" >&3; cat <&3')
grep -q '^coronet_tcp_connections_opened_total{core="1"}' <<<"$metrics" ||
  { echo "no metrics: $metrics"; exit 1; }
ns_stop "$pid" || { echo "two-core user-stack server did not stop cleanly"; cat "$log"; exit 1; }
cat "$log"
line=$(grep "connections served" "$log")
c0=$(sed -E 's/.*core 0: ([0-9]+).*/\1/' <<<"$line")
c1=$(sed -E 's/.*core 1: ([0-9]+).*/\1/' <<<"$line")
# 16 echo connections and the metrics one.
[[ "$c0" -gt 0 && "$c1" -gt 0 && $((c0 + c1)) -eq 17 ]] ||
  { echo "connections per core: $c0 and $c1, expected 17 over both"; exit 1; }
# The user stack over DPDK's net_tap PMD (the port creates its own TAP interface; without
# hugepages). net_tap gives the kernel's side the port's MAC: the kernel side takes another.
difc="cndpdk0"
: >"$log"  # (the wait below reads this log: nothing of the previous server may remain)
ip netns exec "$NS" "$server" --nic=dpdk:net_tap0 --addr=198.18.4.2/24 --port=7 \
  --eal="--no-huge -m 256 --no-pci --no-shconf -l 0 --log-level=notice --file-prefix=coronet-echo-$$ --vdev=net_tap0,iface=$difc" \
  >"$log" 2>&1 &
pid=$!
ns_track_pid "$pid"
# The PMD creates the interface early and configures it while the port starts: touch it only
# once the server listens (its port is up by then).
ns_wait_log "$log" "listening on port" 200 "$pid" || kill -0 "$pid" 2>/dev/null ||
  { echo "DPDK server exited"; cat "$log"; exit 1; }
in_ns ip link set "$difc" address 02:00:00:00:04:01
ns_tap_up "$difc" 198.18.4.1/24
out=$(in_ns timeout 30 "$client" 198.18.4.2 7 --conns=4 --seconds=1 --size=100)
echo "$out"
grep -q "errors: 0, mismatched echoes: 0" <<<"$out"
ns_stop "$pid" || { echo "DPDK user-stack server did not stop cleanly"; cat "$log"; exit 1; }
grep -q "DPDK queues are polled" "$log" || { cat "$log"; exit 1; }
# A bad option is refused with a message, not ignored.
if "$server" --addr=300.1.1.1/24 2>"$log"; then echo "bad --addr accepted"; exit 1; fi
grep -q -- "--addr=300.1.1.1/24: expected A.B.C.D/N" "$log"
echo "PASS"
