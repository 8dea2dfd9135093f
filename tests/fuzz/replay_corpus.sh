#!/usr/bin/env bash
# Replays a fuzz target's seed corpus and crash regressions (see fuzz.bzl). Fails when the
# corpus is empty: a target whose seeds went missing would otherwise pass without running.
set -euo pipefail
bin=$1; corpus=$2; regressions=$3
[[ -d "$corpus" ]] && [[ -n "$(ls -A "$corpus")" ]] || { echo "no seed corpus in $corpus" >&2; exit 1; }
dirs=("$corpus")
[[ -d "$regressions" ]] && dirs+=("$regressions")
exec "$bin" "${dirs[@]}"
