#!/usr/bin/env bash
# Installs the pinned ONNX Runtime shared library for Linux.
#
#   install-onnxruntime.sh                     this machine's architecture, into
#                                              .cache/onnxruntime/<version>/
#   install-onnxruntime.sh --arch arm64 --dest DIR
#                                              another architecture (amd64 or
#                                              arm64), into DIR/libonnxruntime.so.1
#
# ONNX Runtime 1.24.1 is the release onnxruntime_go v1.27.0 is built against. Its
# Linux x64 and arm64 libraries ship inside the onnxruntime-node npm package;
# `npm pack` fetches the tarball without running any install script. npm reads a
# registry mirror from npm_config_registry (or NPM_CONFIG_REGISTRY). Wherever the
# tarball comes from, it and the extracted library are checked against the sha256
# sums pinned here, one per architecture.
set -euo pipefail

version=1.24.1
tgz_sha256=57181cf6e6e711b155c5b942d591fd63ded0b5de5c4922d51fd994e7f6ac2772
lib_sha256_amd64=53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4
lib_sha256_arm64=7954e8bdedb497f830c6a679e818d98399b7f4d81ade1126c3e0be74d28111ab

usage() {
	echo "usage: install-onnxruntime.sh [--arch amd64|arm64] [--dest DIR]" >&2
	exit 2
}

host_arch() {
	case "$(uname -s)/$(uname -m)" in
	Linux/x86_64) echo amd64 ;;
	Linux/aarch64 | Linux/arm64) echo arm64 ;;
	*) echo "" ;;
	esac
}

arch="" dest=""
while [ $# -gt 0 ]; do
	case "$1" in
	--arch) [ $# -ge 2 ] || usage; arch=$2; shift 2 ;;
	--dest) [ $# -ge 2 ] || usage; dest=$2; shift 2 ;;
	*) usage ;;
	esac
done

host=$(host_arch)
if [ -z "$arch" ]; then
	if [ -z "$host" ]; then
		echo "install-onnxruntime: only linux/amd64 and linux/arm64 are packaged here; set MLGATE_ONNXRUNTIME_LIB to your libonnxruntime.so" >&2
		exit 1
	fi
	arch=$host
fi
case "$arch" in
amd64) npm_dir=x64 lib_sha256=$lib_sha256_amd64 ;;
arm64) npm_dir=arm64 lib_sha256=$lib_sha256_arm64 ;;
*)
	echo "install-onnxruntime: --arch $arch: want amd64 or arm64" >&2
	exit 1
	;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$dest" ]; then
	if [ "$arch" != "$host" ]; then
		echo "install-onnxruntime: --arch $arch on a $host machine needs --dest: .cache/onnxruntime holds the library this machine's tests load" >&2
		exit 1
	fi
	dest="$root/.cache/onnxruntime/$version"
fi
lib="$dest/libonnxruntime.so.1"

if [ -f "$lib" ] && echo "$lib_sha256  $lib" | sha256sum -c --status; then
	exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
	echo "install-onnxruntime: npm is needed to fetch onnxruntime-node@$version (apt-get install npm)" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "install-onnxruntime: fetching onnxruntime-node@$version from the npm registry" >&2
(cd "$work" && npm pack --silent "onnxruntime-node@$version" >/dev/null)
tgz="$work/onnxruntime-node-$version.tgz"
echo "$tgz_sha256  $tgz" | sha256sum -c --status || {
	echo "install-onnxruntime: sha256 mismatch for $(basename "$tgz")" >&2
	exit 1
}
member="package/bin/napi-v6/linux/$npm_dir/libonnxruntime.so.1"
tar -xzf "$tgz" -C "$work" "$member"
echo "$lib_sha256  $work/$member" | sha256sum -c --status || {
	echo "install-onnxruntime: sha256 mismatch for linux/$arch libonnxruntime.so.1" >&2
	exit 1
}
mkdir -p "$dest"
install -m 0644 "$work/$member" "$lib.tmp"
mv "$lib.tmp" "$lib"
echo "install-onnxruntime: installed linux/$arch $lib" >&2
