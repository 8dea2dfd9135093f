# Shared shell helpers for kernel-peer tests: a test-made network namespace, the kernel side of a
# TAP device that the server under test creates inside it, and cleanup on every exit path.
# Source it from a bash test (set -euo pipefail is the caller's choice):
#
#   source "$lib"                       # (path from $(location //tests/netns:lib.sh))
#   ns_init synflood                    # NS=coronet-synflood-$$, cleanup trapped on EXIT
#   ip netns exec "$NS" "$server" ... >"$log" 2>&1 &   # directly, so that $! is the server
#   ns_track_pid $!
#   ns_tap_up cn0 198.18.7.1/24         # waits for the TAP, addresses and raises it
#   in_ns curl ...
#
# Test network rules (../shared/DESIGN.md): only namespaces the test made itself, addresses from
# 198.18.0.0/15 inside them, bounded waits.

NS=""
NS_PIDS=()
NS_FILES=()

# Kills the tracked processes (TERM, then KILL after a second), deletes the namespace and the
# tracked files. Safe to call more than once.
ns_cleanup() {
  local p
  for p in "${NS_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${NS_PIDS[@]}"; do
    for _ in $(seq 10); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  NS_PIDS=()
  if [[ -n "$NS" ]]; then
    # Anything still running inside (a client the test forgot) goes with the namespace.
    local left
    left=$(ip netns pids "$NS" 2>/dev/null || true)
    [[ -n "$left" ]] && kill -KILL $left 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
  fi
  NS=""
  if ((${#NS_FILES[@]})); then rm -rf "${NS_FILES[@]}"; fi
  NS_FILES=()
}

# Creates the namespace coronet-TAG-$$ (with loopback up) and traps cleanup on exit and signals.
ns_init() {
  NS="coronet-$1-$$"
  trap ns_cleanup EXIT
  trap 'exit 130' INT TERM
  ip netns add "$NS"
  ip netns exec "$NS" ip link set lo up
}

in_ns() { ip netns exec "$NS" "$@"; }

ns_track_pid() { NS_PIDS+=("$1"); }

# A temporary file removed on exit; its name is printed.
ns_tmpfile() {
  local f
  f=$(mktemp)
  NS_FILES+=("$f")
  echo "$f"
}

# Waits (up to ~5 s) for interface IF to appear in the namespace, then gives the kernel side the
# address ADDR/N and raises it. Returns non-zero if the interface never appeared.
ns_tap_up() {
  local ifc=$1 addr=$2
  for _ in $(seq 50); do
    in_ns ip link show "$ifc" >/dev/null 2>&1 && break
    sleep 0.1
  done
  in_ns ip link show "$ifc" >/dev/null 2>&1 || return 1
  in_ns ip addr add "$addr" dev "$ifc"
  in_ns ip link set "$ifc" up
}

# Waits up to TRIES x 0.1 s for `curl URL` (from inside the namespace) to succeed.
ns_wait_http() {
  local url=$1 tries=${2:-50}
  for _ in $(seq "$tries"); do
    in_ns curl -s -m 1 -o /dev/null "$url" && return 0
    sleep 0.1
  done
  return 1
}

# Waits up to TRIES x 0.1 s for PATTERN (grep -E) in FILE. Truncate FILE before the event.
ns_wait_log() {
  local file=$1 pattern=$2 tries=${3:-50}
  for _ in $(seq "$tries"); do
    grep -qE "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# The sum over cores of a Prometheus metric NAME in the text on stdin (0 when absent).
prom_sum() {
  awk -v n="$1" '$1 ~ "^"n"(\\{|$)" {s += $2} END {printf "%d\n", s}'
}
