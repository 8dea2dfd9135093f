#!/usr/bin/env bash
# kv_server on two cores (kernel stack on a test-made namespace's loopback; keys sharded over the
# cores with submit_to), driven by kv_client.py, a scripted memcached client. Needs root.
set -euo pipefail
server=$1
client=$2
ns="coronet-kv-$$"
log=$(mktemp)
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  ip netns del "$ns" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" "$server" --stack=kernel --cores=2 --port=11211 >"$log" 2>&1 &
pid=$!
for _ in $(seq 50); do
  ip netns exec "$ns" ss -ltn 2>/dev/null | grep -q ':11211 ' && break
  sleep 0.1
done
ip netns exec "$ns" timeout 60 python3 "$client" 127.0.0.1 11211 || { cat "$log"; exit 1; }
kill -TERM "$pid"
wait "$pid" || { echo "kv_server did not stop cleanly"; cat "$log"; exit 1; }
pid=""
echo "PASS"
