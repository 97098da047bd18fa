#!/usr/bin/env bash
# `make fuzz`: runs every libFuzzer target of the sanitizer build for SECS seconds each
# (FUZZ_SECONDS, default 600), starting from tests/fuzz/corpus/<target>/, then merges what
# it found back into that folder, minimised (-merge=1: the smallest set of inputs with the
# same coverage) and limited to small files (FUZZ_MAX_LEN, default 4096 bytes; larger seeds
# already there are kept). Prints executions per second and libFuzzer's coverage figures
# (cov: edges, ft: features) per target. Fails when a target crashes; the input is kept in
# BUILD/fuzz-artifacts/<target>/. Not part of `make test` (scripts/fuzz-smoke.sh is).
#
#   bash scripts/fuzz-run.sh BUILD_DIR [SECS] [TARGET...]
set -uo pipefail
build=${1:-build-asan}
secs=${2:-${FUZZ_SECONDS:-600}}
shift $(( $# >= 2 ? 2 : $# ))
max_len=${FUZZ_MAX_LEN:-4096}
root=$(cd "$(dirname "$0")/.." && pwd)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for t in "$build"/tests/fuzz/fuzz_*; do [ -x "$t" ] && targets+=("$(basename "$t")"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets built in $build (make build-asan)"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
summary=$(mktemp)
printf '%-16s %8s %12s %10s %8s %8s %8s\n' target seconds executions exec/s cov ft corpus >"$summary"
for name in "${targets[@]}"; do
  bin="$build/tests/fuzz/$name"
  corpus="$root/tests/fuzz/corpus/$name"
  arts="$build/fuzz-artifacts/$name"
  log="$build/$name.fuzz.log"
  mkdir -p "$corpus" "$arts"
  found=$(mktemp -d)
  echo "fuzz: $name for ${secs}s"
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="$arts/" "$found" "$corpus" >"$log" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "fuzz: $name FAILED (status $rc); input in $arts/, log $log:"
    tail -n 40 "$log"
    failed=1
  fi
  # merge: the smallest set of (existing + new) inputs with the same coverage
  merged=$(mktemp -d)
  "$bin" -merge=1 -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 "$merged" "$corpus" "$found" \
    >"$log.merge" 2>&1
  if [ $? -eq 0 ] && [ -n "$(ls -A "$merged")" ]; then
    # keep the seeds larger than max_len (merge cuts them); replace the rest
    find "$corpus" -maxdepth 1 -type f -size -$((max_len + 1))c -delete
    cp -n "$merged"/* "$corpus"/ 2>/dev/null
  fi
  rm -rf "$found" "$merged"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  persec=$(( ${execs:-0} / (secs > 0 ? secs : 1) ))
  printf '%-16s %8s %12s %10s %8s %8s %8s\n' "$name" "$secs" "${execs:-?}" "$persec" "${cov:-?}" \
    "${ft:-?}" "$(ls "$corpus" | wc -l)" >>"$summary"
done
echo
cat "$summary"
rm -f "$summary"
exit $failed
