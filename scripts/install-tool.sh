#!/usr/bin/env bash
# Installs one pinned Go program that tests run (a MinIO server, for one)
# and prints the path of its binary:
#
#   scripts/install-tool.sh NAME PACKAGE VERSION
#   scripts/install-tool.sh minio github.com/minio/minio v0.0.0-20260212201848-7aac2a2c5b7c
#
# It runs `go install PACKAGE@VERSION` into
# ${MLGATE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlgate/tools}/NAME-VERSION/NAME,
# outside the clone, so every clone on the machine shares one build. A binary
# already there is kept when `go version -m` says it was built from VERSION.
# Concurrent runs for the same tool wait for each other (flock) instead of
# building twice; the binary appears by rename, never half-written.
set -euo pipefail

if [ $# -ne 3 ]; then
	echo "usage: $0 NAME PACKAGE VERSION (e.g. minio github.com/minio/minio v0.0.0-20260212201848-7aac2a2c5b7c)" >&2
	exit 2
fi
name=$1 pkg=$2 version=$3
case "$name" in
*/* | "" | .*)
	echo "install-tool: NAME $name must be a plain file name" >&2
	exit 2
	;;
esac

tools=${MLGATE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlgate/tools}
dest="$tools/$name-$version"
bin="$dest/$name"
go=${GO:-go}

# built_from_version succeeds when $1 is a Go binary whose main module is at
# $version.
built_from_version() {
	[ -x "$1" ] && "$go" version -m "$1" 2>/dev/null | awk -v v="$version" '$1 == "mod" && $3 == v { found = 1 } END { exit !found }'
}

if built_from_version "$bin"; then
	echo "$bin"
	exit 0
fi

mkdir -p "$tools"
exec 9>"$tools/.$name-$version.lock"
flock 9
if built_from_version "$bin"; then # another run installed it while this one waited
	echo "$bin"
	exit 0
fi

work=$(mktemp -d "$tools/.$name-$version.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "install-tool: go install $pkg@$version into $dest (once per machine; this can take several minutes)" >&2
start=$SECONDS
GOBIN="$work" "$go" install "$pkg@$version"
if [ ! -x "$work/$name" ]; then
	echo "install-tool: go install $pkg@$version made no binary named $name (made: $(ls "$work"))" >&2
	exit 1
fi
if ! built_from_version "$work/$name"; then
	echo "install-tool: $work/$name does not report module version $version" >&2
	exit 1
fi
mkdir -p "$dest"
mv -f "$work/$name" "$bin"
echo "install-tool: installed $bin in $((SECONDS - start))s" >&2
echo "$bin"
