#!/usr/bin/env bash
# Runs mlgate's benchmark suite (`make bench`): builds the two baselines,
# bin/ceiling (the HTTP ceiling) and bin/naive (a plain net/http +
# encoding/json + onnxruntime_go server), then runs the harness in
# bench/run, which starts them and bin/mlgate (built by `make build`) and
# measures all three with mlgate's own load generator. Arguments go to the
# harness: `./scripts/bench.sh -quick` is a one-minute smoke run,
# `./scripts/bench.sh -h` lists the flags.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
go=${GO:-go}

CGO_ENABLED=1 "$go" build -trimpath -o bin/ceiling ./bench/ceiling
CGO_ENABLED=1 "$go" build -trimpath -o bin/naive ./bench/naive
exec "$go" run ./bench/run "$@"
