#!/usr/bin/env bash
# Runs every libFuzzer target found in the sanitizer build for a few seconds each,
# starting from its seed corpus in tests/fuzz/corpus/<target>/. Fails on any crash.
set -euo pipefail
build=${1:-build-asan}
secs=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
found=0
for t in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$t" ] || continue
  found=1
  name=$(basename "$t")
  corpus=$(mktemp -d)
  [ -d "$root/tests/fuzz/corpus/$name" ] && cp -r "$root/tests/fuzz/corpus/$name/." "$corpus/"
  echo "fuzz: $name for ${secs}s"
  "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 "$corpus" >"$build/$name.log" 2>&1 \
    || { tail -n 50 "$build/$name.log"; exit 1; }
  rm -rf "$corpus"
done
[ $found -eq 1 ] || echo "fuzz: no targets built"
