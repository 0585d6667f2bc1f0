#!/usr/bin/env bash
# Runs each fuzz target of the DRMAAFuzz binary for a bounded time (make fuzz, make fuzz-quick).
# usage: Fuzz/run-fuzzers.sh <DRMAAFuzz binary> <seconds per target> <target>...
# The committed seeds (Fuzz/corpus/<target>) are read, never written: what the fuzzer finds
# grows out/fuzz/corpus/<target>. A crash, trap, leak, timeout or invariant failure leaves its
# input in out/fuzz/findings/<target>/ and fails the run (after every target has run).
set -uo pipefail
bin=$1 seconds=$2
shift 2
cd "$(dirname "$0")/.."
failed=()
mkdir -p out/fuzz
printf '%-12s %8s %8s %7s %8s  %s\n' target execs exec/s cov ft result >out/fuzz/summary.txt
for target in "$@"; do
  mkdir -p "out/fuzz/corpus/$target" "out/fuzz/findings/$target"
  log="out/fuzz/$target.log"
  echo "== fuzz $target for ${seconds}s (log: $log)"
  # The fuzzer's own crash handling; Swift's backtracer would hold the process for seconds.
  SWIFT_BACKTRACE=enable=no DRMAA_FUZZ_TARGET="$target" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
    LSAN_OPTIONS="suppressions=$PWD/Tests/lsan.supp:print_suppressions=0" \
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -dict="Fuzz/dict/$target.dict" -artifact_prefix="out/fuzz/findings/$target/" \
      "out/fuzz/corpus/$target" "Fuzz/corpus/$target" >"$log" 2>&1
  rc=$?
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  if [ $rc -eq 0 ]; then result=ok; else result="FAILED (exit $rc)"; failed+=("$target"); fi
  printf '%-12s %8s %8s %7s %8s  %s\n' "$target" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result" | tee -a out/fuzz/summary.txt
  if [ $rc -ne 0 ]; then
    grep -E 'invariant failed|ERROR: |SUMMARY: |Fatal error|Test unit written' "$log" | head -20
  fi
done
echo "== summary (out/fuzz/summary.txt)"; cat out/fuzz/summary.txt
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}; reproduce with: DRMAA_FUZZ_TARGET=<target> $bin <file>"
  exit 1
fi
