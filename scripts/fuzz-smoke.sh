#!/usr/bin/env bash
# Runs every libFuzzer target found in the sanitizer build for a few seconds each,
# starting from its seed corpus in tests/fuzz/corpus/<target>/. Fails on any crash.
# The mutations start from a fixed seed (FUZZ_SEED, default 1) so that a failure in CI
# can be run again elsewhere; `make fuzz` (scripts/fuzz-run.sh) is where new inputs are
# searched for at length. On a failure the input is printed in base64: saved under
# tests/fuzz/corpus/<target>/ it becomes a regression seed.
set -euo pipefail
build=${1:-build-asan}
secs=${2:-20}
seed=${FUZZ_SEED:-1}
root=$(cd "$(dirname "$0")/.." && pwd)
found=0
for t in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$t" ] || continue
  found=1
  name=$(basename "$t")
  corpus=$(mktemp -d)
  art=$(mktemp -d)
  [ -d "$root/tests/fuzz/corpus/$name" ] && cp -r "$root/tests/fuzz/corpus/$name/." "$corpus/"
  echo "fuzz: $name for ${secs}s (seed $seed)"
  if ! "$t" -seed="$seed" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=0 -artifact_prefix="$art/" "$corpus" >"$build/$name.log" 2>&1; then
    tail -n 50 "$build/$name.log"
    for f in "$art"/*; do
      [ -f "$f" ] || continue
      echo "fuzz: $name failed on $(basename "$f") ($(stat -c %s "$f") bytes), base64:"
      base64 -w 76 "$f"
    done
    exit 1
  fi
  rm -rf "$corpus" "$art"
done
[ $found -eq 1 ] || echo "fuzz: no targets built"
