#!/usr/bin/env bash
# Runs every fuzz target in the module for FUZZTIME each (default 30s).
# New crashers land in the package's testdata/fuzz/<Target>/ and become
# regression cases that `make test` runs. Usage: scripts/fuzz.sh [regexp]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
filter=${1:-.}
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
	pkg=./$(dirname "${file#./}")
	grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //' | while read -r target; do
		[[ "$target" =~ $filter ]] || continue
		echo "== $pkg $target ($fuzztime)"
		go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime"
	done
done
