#!/usr/bin/env bash
# Fuzzes every target (or those named) for SECONDS each, one after the
# other on one core, and prints a line per target: executions, and
# crashes found (their inputs are left in fuzz/artifacts/TARGET/).
#
#   fuzz/run.sh                 # 5 seconds per target: a smoke run
#   fuzz/run.sh 900             # 15 minutes per target
#   fuzz/run.sh 900 records     # one target
#
# Needs the nightly toolchain; installs cargo-fuzz (pinned) if missing.
# New inputs the fuzzer finds go to $CARGO_TARGET_DIR/corpus/TARGET (or
# fuzz/target/corpus/TARGET), never into the seed corpus fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-5}
shift || true
rustup run nightly true 2>/dev/null || {
    echo "fuzz/run.sh: the nightly toolchain is needed: rustup toolchain install nightly" >&2
    exit 2
}
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo +stable install --locked cargo-fuzz --version 0.13.2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build
work=${CARGO_TARGET_DIR:-target}/corpus
status=0
for target in "${targets[@]}"; do
    mkdir -p "$work/$target" "artifacts/$target"
    log=$(mktemp)
    if cargo +nightly fuzz run "$target" "$work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        outcome=ok
    else
        outcome=CRASH
        status=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    crashes=$(find "artifacts/$target" -type f | wc -l)
    printf '%-16s %10s executions in %ss, %s crash inputs in artifacts/%s: %s\n' \
        "$target" "${runs:-?}" "$seconds" "$crashes" "$target" "$outcome"
    if [ "$outcome" = CRASH ]; then
        grep -m1 -A12 -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" >&2 || tail -20 "$log" >&2
    fi
    rm -f "$log"
done
exit $status
