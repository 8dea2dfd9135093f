#!/usr/bin/env bash
# kv_server on two cores (kernel stack on a test-made namespace's loopback; keys sharded over the
# cores with submit_to), driven by kv_client.py, a scripted memcached client. Needs root.
# Args: kv_server kv_client.py lib.sh
set -euo pipefail
server=$1
client=$2
source "$3"
ns_init kv
log=$(ns_tmpfile)
ip netns exec "$NS" "$server" --stack=kernel --cores=2 --port=11211 >"$log" 2>&1 &
pid=$!
ns_track_pid "$pid"
ns_wait_listen 11211 || true  # (as before: the client below finds out)
in_ns timeout 60 python3 "$client" 127.0.0.1 11211 || { cat "$log"; exit 1; }
ns_stop "$pid" || { echo "kv_server did not stop cleanly"; cat "$log"; exit 1; }
echo "PASS"
