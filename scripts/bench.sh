#!/usr/bin/env bash
# Runs mlgate's benchmark suite (`make bench`): builds the two baselines,
# bin/ceiling (the HTTP ceiling) and bin/naive (a plain net/http +
# encoding/json + onnxruntime_go server), makes sure wrk (the second,
# independent load generator) is installed, then runs the harness in
# bench/run, which starts them and bin/mlgate (built by `make build`) and
# measures them: the headline comparison in interleaved rounds with
# mlgate's own load generator and with wrk, mlgate's batching modes and its
# worker/thread settings, with CPU profiles of the ceiling and mlgate, and
# the hot-path and handler Go benchmarks. Arguments go to the harness:
# `./scripts/bench.sh -quick` is a smoke run of every phase,
# `./scripts/bench.sh -h` lists the flags. The total time is printed at the
# end.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
go=${GO:-go}
start=$SECONDS

# wrk comes from the distribution's packages. Install it when missing and
# running as root; otherwise say how, unless the run leaves wrk out
# (-clients loadtest).
if ! command -v wrk >/dev/null 2>&1 && [[ " $* " != *" -clients loadtest "* && " $* " != *" -clients=loadtest "* ]]; then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		echo "bench: installing wrk (apt-get install -y wrk)" >&2
		apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
	else
		echo "bench: wrk is not installed; install it (sudo apt-get install -y wrk) or run with -clients loadtest" >&2
		exit 1
	fi
fi

CGO_ENABLED=1 "$go" build -trimpath -o bin/ceiling ./bench/ceiling
CGO_ENABLED=1 "$go" build -trimpath -o bin/naive ./bench/naive
status=0
"$go" run ./bench/run "$@" || status=$?
elapsed=$((SECONDS - start))
printf 'bench: total %dm%02ds (building the baselines, compiling and running the harness)\n' \
	$((elapsed / 60)) $((elapsed % 60)) >&2
exit "$status"
