#!/usr/bin/env bash
# The fuzz targets in fuzz/ (libFuzzer through cargo-fuzz, on the stable
# toolchain: `--sanitizer none` needs no nightly flags; Rust's own checks and
# debug assertions catch what a sanitizer would in this unsafe-free code).
#
#   tools/fuzz.sh smoke          build, then run each target ~SMOKE_SECONDS (default 3) on its seeds
#   tools/fuzz.sh run TARGET N   run TARGET for N executions (its corpus grows under fuzz/target/corpus/)
#   tools/fuzz.sh list           the targets
#   tools/fuzz.sh seeds          regenerate the committed seed corpora (fuzz/corpus/TARGET/seed-*)
#
# Every run caps memory (-rss_limit_mb, -malloc_limit_mb: a single allocation
# above the limit is a finding) and time per input (-timeout: a hang is a
# finding). Crashes land in fuzz/artifacts/TARGET/ (git-ignored); reproduce
# one with `cargo fuzz run -s none TARGET FILE` in fuzz/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

RSS_LIMIT_MB=${RSS_LIMIT_MB:-1024}
MALLOC_LIMIT_MB=${MALLOC_LIMIT_MB:-256}
TIMEOUT_SECONDS=${TIMEOUT_SECONDS:-10}
LIBFUZZER_FLAGS=(-rss_limit_mb="$RSS_LIMIT_MB" -malloc_limit_mb="$MALLOC_LIMIT_MB"
                 -timeout="$TIMEOUT_SECONDS" -max_len=65536 -print_final_stats=1)

targets() { sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^ordo-fuzz'; }

ensure_cargo_fuzz() {
  if cargo fuzz --version >/dev/null 2>&1; then return 0; fi
  echo "cargo-fuzz is missing: installing it from crates.io"
  cargo install cargo-fuzz --locked --version 0.13.2 || return 1
}

build() { cargo fuzz build -s none --release "$@"; }

# run TARGET EXTRA_LIBFUZZER_FLAGS...: the corpus it grows is a working copy
# (fuzz/target/corpus/TARGET, git-ignored), seeded from the committed one.
run_target() {
  local target=$1; shift
  local work="target/corpus/$target"
  mkdir -p "$work" "artifacts/$target"
  cargo fuzz run -s none --release "$target" "$work" "corpus/$target" -- \
    "${LIBFUZZER_FLAGS[@]}" -artifact_prefix="artifacts/$target/" "$@"
}

case "${1:-}" in
  list) targets ;;
  smoke)
    if ! ensure_cargo_fuzz; then
      echo "SKIPPED: fuzz smoke (cargo-fuzz could not be installed)"
      exit 0
    fi
    build
    for target in $(targets); do
      echo "== fuzz smoke: $target (${SMOKE_SECONDS:-3} s)"
      log="target/smoke-$target.log"
      if ! run_target "$target" -max_total_time="${SMOKE_SECONDS:-3}" >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $target FAILED (input in fuzz/artifacts/$target/)"
        exit 1
      fi
      grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" | tr '\n' ' '; echo
    done
    echo "fuzz smoke: every target ran clean"
    ;;
  run)
    target=${2:?usage: tools/fuzz.sh run TARGET EXECUTIONS}
    runs=${3:?usage: tools/fuzz.sh run TARGET EXECUTIONS}
    ensure_cargo_fuzz
    build "$target"
    run_target "$target" -runs="$runs"
    ;;
  seeds)
    # A plain debug build of the seed writer, in the main target dir.
    CARGO_TARGET_DIR=../target cargo run -p ordo-fuzz-seeds -- corpus
    ;;
  *)
    sed -n '2,14p' "$0"
    exit 2
    ;;
esac
