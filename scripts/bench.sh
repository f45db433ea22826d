#!/usr/bin/env bash
# Runs mlgate's benchmark suite (`make bench`): builds the two baselines,
# bin/ceiling (the HTTP ceiling) and bin/naive (a plain net/http +
# encoding/json + onnxruntime_go server), then runs the harness in
# bench/run, which starts them and bin/mlgate (built by `make build`) and
# measures them with mlgate's own load generator: the headline comparison,
# mlgate's batching modes and its worker/thread settings, with CPU profiles
# of the ceiling and mlgate. Arguments go to the harness:
# `./scripts/bench.sh -quick` is a smoke run of every phase,
# `./scripts/bench.sh -h` lists the flags. The total time is printed at the
# end.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
go=${GO:-go}
start=$SECONDS

CGO_ENABLED=1 "$go" build -trimpath -o bin/ceiling ./bench/ceiling
CGO_ENABLED=1 "$go" build -trimpath -o bin/naive ./bench/naive
status=0
"$go" run ./bench/run "$@" || status=$?
elapsed=$((SECONDS - start))
printf 'bench: total %dm%02ds (building the baselines, compiling and running the harness)\n' \
	$((elapsed / 60)) $((elapsed % 60)) >&2
exit "$status"
