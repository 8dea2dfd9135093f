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
#   ns_stop "$pid" || fail ...          # TERM, wait: its exit status; no longer tracked
#
# Test network rules (../shared/DESIGN.md): only namespaces the test made itself, addresses from
# 198.18.0.0/15 inside them, bounded waits.

NS=""
NS_PIDS=()
NS_FILES=()
NS_TMP=""  # made by ns_init: ns_tmpfile/ns_tmpdir create inside it (works from $(...) too)

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
  NS_TMP=""
}

# Creates the namespace coronet-TAG-$$ (with loopback up) and a temporary directory for
# ns_tmpfile/ns_tmpdir, and traps cleanup on exit and signals.
ns_init() {
  NS="coronet-$1-$$"
  trap ns_cleanup EXIT
  trap 'exit 130' INT TERM
  NS_TMP=$(mktemp -d)
  NS_FILES+=("$NS_TMP")
  ip netns add "$NS"
  ip netns exec "$NS" ip link set lo up
}

in_ns() { ip netns exec "$NS" "$@"; }

ns_track_pid() { NS_PIDS+=("$1"); }

# Forgets PID (one the test has reaped itself): cleanup will not signal it.
ns_untrack_pid() {
  local p keep=()
  for p in "${NS_PIDS[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
  NS_PIDS=("${keep[@]}")
}

# Stops PID with TERM and waits for it; returns its exit status. It is no longer tracked.
ns_stop() {
  local rc=0
  kill -TERM "$1"
  wait "$1" || rc=$?
  ns_untrack_pid "$1"
  return "$rc"
}

# A temporary file removed on exit; its name is printed. After ns_init it lives in NS_TMP, so
# `f=$(ns_tmpfile)` (a subshell, whose NS_FILES the caller never sees) is cleaned up too.
ns_tmpfile() {
  local f
  if [[ -n "$NS_TMP" ]]; then f=$(mktemp -p "$NS_TMP"); else f=$(mktemp); fi
  NS_FILES+=("$f")
  echo "$f"
}

# The same for a temporary directory.
ns_tmpdir() {
  local d
  if [[ -n "$NS_TMP" ]]; then d=$(mktemp -d -p "$NS_TMP"); else d=$(mktemp -d); fi
  NS_FILES+=("$d")
  echo "$d"
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
# With PID, gives up (non-zero) as soon as that process has exited.
ns_wait_log() {
  local file=$1 pattern=$2 tries=${3:-50} pid=${4:-}
  for _ in $(seq "$tries"); do
    grep -qE "$pattern" "$file" 2>/dev/null && return 0
    [[ -z "$pid" ]] || kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Waits up to TRIES x 0.1 s for a TCP listener on PORT inside the namespace.
ns_wait_listen() {
  local port=$1 tries=${2:-50}
  for _ in $(seq "$tries"); do
    # (ss's whole output first: a grep -q that stops reading early must not fail the pipe)
    grep -q ":$port " <<<"$(in_ns ss -ltn 2>/dev/null)" && return 0
    sleep 0.1
  done
  return 1
}

# The sum over cores of a Prometheus metric NAME in the text on stdin (0 when absent).
prom_sum() {
  awk -v n="$1" '$1 ~ "^"n"(\\{|$)" {s += $2} END {printf "%d\n", s}'
}
