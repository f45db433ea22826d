#!/usr/bin/env bash
# Measures one lever's before and after in the same run and records it in
# bench/results/levers.json (BENCHMARKS.md's "Before and after, per lever").
#
#   ./scripts/bench-lever.sh LEVER AFTER [BEFORE]
#
# AFTER is the commit that made the change, BEFORE the one without it (by
# default AFTER's first parent). Each is built from its own checkout (a
# temporary git worktree), so the two binaries differ by that change alone;
# AFTER may also be "pgo", which compares the current checkout built with
# and without cmd/mlgate/default.pgo. The harness then runs only the
# headline rounds (-rounds-only) with the two side by side; BENCH_FLAGS adds
# harness flags (e.g. -rounds 10).
#
# A binary older than the harness may lack flags or settings it passes:
# --admin-listen (it then serves the admin endpoints on the main listener,
# where the harness reads them), --grpc-listen, and the configuration's
# artifacts block. Each old binary runs through a small wrapper that leaves
# out what its version does not know; `mlgate resolve`, which the harness
# only uses to check its model store, goes to the current bin/mlgate.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
lever=${1:?usage: $0 LEVER AFTER [BEFORE]}
after=${2:?usage: $0 LEVER AFTER [BEFORE]}
go=${GO:-go}
work=$(mktemp -d)
trap 'git -C "$root" worktree prune; rm -rf "$work"' EXIT

make build >/dev/null
CGO_ENABLED=1 "$go" build -trimpath -o bin/ceiling ./bench/ceiling
CGO_ENABLED=1 "$go" build -trimpath -o bin/naive ./bench/naive

# build COMMIT OUT: mlgate at COMMIT, from a worktree of its own.
build() {
	local wt="$work/wt-$1"
	git worktree add --detach "$wt" "$1" >/dev/null 2>&1
	ln -sfn "$root/.cache" "$wt/.cache"
	(cd "$wt" && CGO_ENABLED=1 "$go" build -trimpath -ldflags "-X main.version=$1" -o "$2" ./cmd/mlgate)
	git worktree remove --force "$wt"
}

# wrap BIN OUT: OUT runs BIN without the flags and settings BIN predates.
wrap() {
	local bin=$1 out=$2 drop="" filter=0
	local help
	help=$("$bin" serve -h 2>&1 || true)
	for f in admin-listen grpc-listen; do
		grep -q -- "-$f" <<<"$help" || drop="$drop $f"
	done
	grep -aq 'yaml:"artifacts"' "$bin" || filter=1
	cat >"$out" <<EOF
#!/usr/bin/env bash
if [ "\$1" = resolve ]; then exec "$root/bin/mlgate" "\$@"; fi
args=(); skip=0; cfg=0
for a in "\$@"; do
	if [ \$skip = 1 ]; then skip=0; continue; fi
	if [ \$cfg = 1 ] && [ $filter = 1 ]; then
		grep -v -e '^artifacts:' -e '^  allowed_roots:' "\$a" >"\$a.old.yaml"; a="\$a.old.yaml"
	fi
	cfg=0; [ "\$a" = --config ] && cfg=1
	for f in $drop; do [ "\$a" = "--\$f" ] && { skip=1; continue 2; }; done
	args+=("\$a")
done
exec "$bin" "\${args[@]}"
EOF
	chmod +x "$out"
}

mkdir -p "$work/bin"
cp bin/ceiling bin/naive "$work/bin/"
ln -s "$root/bin/lib" "$work/bin/lib"
if [[ $after == pgo ]]; then
	v=$(git describe --tags --always --dirty)
	CGO_ENABLED=1 "$go" build -trimpath -pgo=off -ldflags "-X main.version=$v-nopgo" -o "$work/before" ./cmd/mlgate
	ln -s "$root/bin/mlgate" "$work/bin/mlgate"
	baseline="$work/before"
else
	before=${3:-$(git rev-parse --short "$after^")}
	build "$after" "$work/after.bin"
	build "$before" "$work/before.bin"
	wrap "$work/after.bin" "$work/bin/mlgate"
	wrap "$work/before.bin" "$work/before"
	baseline="$work/before"
fi

results="$work/results"
mkdir -p "$results"
cp bench/results/levers.json "$results/" 2>/dev/null || true
"$go" run ./bench/run -rounds-only -servers mlgate -phases headline -gotest=false -before none \
	-bin "$work/bin" -baseline-bin "$baseline" -lever "$lever" \
	-results "$results" -out "$results/BENCHMARKS.md" ${BENCH_FLAGS:-}
cp "$results/levers.json" bench/results/levers.json
"$go" run ./bench/run -render
echo "bench-lever: $lever recorded in bench/results/levers.json; BENCHMARKS.md redrawn" >&2
