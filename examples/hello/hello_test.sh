#!/usr/bin/env bash
# README's server example: the code block in README.md is hello.cc without its first comment
# line, and the program works on both stacks. Needs root (namespace, TAP).
set -euo pipefail
bin=$1
src=$2
readme=$3
# The README's block between "```cpp hello" and "```" must be hello.cc from its first #include.
python3 - "$src" "$readme" <<'PY'
import sys
src = open(sys.argv[1]).read()
src = src[src.index("#include"):]
readme = open(sys.argv[2]).read()
start = readme.index("```cpp\n#include \"coronet/run.h\"\n\nusing namespace coronet;")
block = readme[start + len("```cpp\n"):]
block = block[:block.index("```")]
if block != src:
    sys.exit("README.md's server example differs from examples/hello/hello.cc")
print("README block == hello.cc (%d lines)" % src.count("\n"))
PY
ns="coronet-hello-$$"
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ask() {  # ask HOST: one line, one greeting
  ip netns exec "$ns" timeout 5 bash -c \
    "exec 3<>/dev/tcp/$1/7070; printf 'world\n' >&3; head -n 1 <&3"
}
ip netns exec "$ns" "$bin" --stack=kernel --cores=2 &
pid=$!
for _ in $(seq 50); do
  ip netns exec "$ns" ss -ltn 2>/dev/null | grep -q ':7070 ' && break
  sleep 0.1
done
[[ "$(ask 127.0.0.1)" == "hello, world" ]] || { echo "kernel stack: no greeting"; exit 1; }
kill -TERM "$pid"; wait "$pid"; pid=""
ip netns exec "$ns" "$bin" --nic=tap:cnhello0 --addr=198.18.8.2/24 &
pid=$!
for _ in $(seq 50); do
  ip netns exec "$ns" ip link show cnhello0 >/dev/null 2>&1 && break
  sleep 0.1
done
ip netns exec "$ns" ip addr add 198.18.8.1/24 dev cnhello0
ip netns exec "$ns" ip link set cnhello0 up
[[ "$(ask 198.18.8.2)" == "hello, world" ]] || { echo "user stack: no greeting"; exit 1; }
kill -TERM "$pid"; wait "$pid"; pid=""
echo "PASS"
