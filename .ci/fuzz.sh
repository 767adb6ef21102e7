#!/usr/bin/env bash
# Runs every cargo-fuzz target for FUZZ_SECONDS (default 20) on its committed corpus
# (docs/fuzzing.md). A crash (panic), a timeout (10 s on one input) or running out of memory
# (2 GB) fails; the input that did it is left in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${FUZZ_SECONDS:-20}
# config_load writes a scratch folder per fuzzing process.
trap 'rm -rf /dev/shm/crmdav-fuzz-config-* "${TMPDIR:-/tmp}"/crmdav-fuzz-config-*' EXIT
# The workspace's clippy wrapper (set by .ci/run) is for the stable build only.
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
rustup run nightly rustc --version >/dev/null 2>&1 ||
  rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# No sanitizer: the crates are safe Rust, so what fuzzing finds is panics (debug assertions
# and overflow checks are on), hangs and memory growth, which libFuzzer catches itself;
# AddressSanitizer would roughly double the build for nothing it could add here.
cargo +nightly fuzz build --sanitizer none
targets=$(cargo +nightly fuzz list)
[ -n "$targets" ] || { echo "fuzz: no targets listed"; exit 1; }
for target in $targets; do
  # New inputs go to a scratch folder; the committed corpus is only read. One process, one
  # worker (libFuzzer's default; `-jobs` would move the output into fuzz-N.log files).
  scratch="target/ci-corpus/$target"
  mkdir -p "$scratch"
  log="target/ci-corpus/$target.log"
  if ! cargo +nightly fuzz run --sanitizer none "$target" "$scratch" "corpus/$target" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: $target FAILED (the input is in fuzz/artifacts/$target/)"
    exit 1
  fi
  echo "fuzz: $target ok: $(grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | tr '\n' ' ')"
done
