#!/usr/bin/env bash
# README's server example: the code block in README.md is hello.cc without its first comment
# line, and the program works on both stacks. Needs root (namespace, TAP).
# Args: hello hello.cc README.md lib.sh
set -euo pipefail
bin=$1
src=$2
readme=$3
source "$4"
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
ns_init hello
ask() {  # ask HOST: one line, one greeting
  in_ns timeout 5 bash -c \
    "exec 3<>/dev/tcp/$1/7070; printf 'world\n' >&3; head -n 1 <&3"
}
ip netns exec "$NS" "$bin" --stack=kernel --cores=2 &
pid=$!
ns_track_pid "$pid"
ns_wait_listen 7070 || true  # (as before: ask below finds out)
[[ "$(ask 127.0.0.1)" == "hello, world" ]] || { echo "kernel stack: no greeting"; exit 1; }
ns_stop "$pid"
ip netns exec "$NS" "$bin" --nic=tap:cnhello0 --addr=198.18.8.2/24 &
pid=$!
ns_track_pid "$pid"
ns_tap_up cnhello0 198.18.8.1/24 || { echo "TAP cnhello0 did not appear"; exit 1; }
[[ "$(ask 198.18.8.2)" == "hello, world" ]] || { echo "user stack: no greeting"; exit 1; }
ns_stop "$pid"
echo "PASS"
