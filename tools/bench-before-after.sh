#!/bin/sh
# Runs the core, runtime and transport benches of two builds alternately:
# three rounds, each running BEFORE then AFTER, one output file per run.
#
# usage: tools/bench-before-after.sh BEFORE_DIR AFTER_DIR OUT_DIR
#   BEFORE_DIR, AFTER_DIR: each holds the bench executables of one build
#   (commit_throughput-*, runtime-*, transport-*, copied from
#   target/release/deps after `cargo bench --no-run -p ordo-core --bench
#   commit_throughput -p ordo --features grpc --bench runtime --bench transport`).
# Run it from the repository root on an otherwise idle machine.
set -eu
before=$1 after=$2 out=$3
root=$(pwd)
mkdir -p "$out"
# criterion keeps its own records under the working directory otherwise.
export CRITERION_HOME="$out/criterion"
for round in 1 2 3; do
  for side in before after; do
    if [ "$side" = before ]; then dir=$before; else dir=$after; fi
    (cd "$root/crates/ordo-core" && "$dir"/commit_throughput-* --bench --warm-up-time 1 \
      --measurement-time 3 --noplot) > "$out/core-$side-$round.txt" 2>&1
    (cd "$root/crates/ordo" && ORDO_BENCH_SECS=3 ORDO_BENCH_CLIENTS=1,256,4096 \
      "$dir"/runtime-*) > "$out/runtime-$side-$round.txt" 2>&1
    (cd "$root/crates/ordo" && ORDO_BENCH_SECS=2 "$dir"/transport-*) \
      > "$out/transport-$side-$round.txt" 2>&1
  done
done
