#!/usr/bin/env bash
# Installs the pinned ONNX Runtime shared library into .cache/onnxruntime/<version>/.
#
# ONNX Runtime 1.24.1 is the release onnxruntime_go v1.27.0 is built against. The
# Linux x64 library ships inside the onnxruntime-node npm package; `npm pack`
# fetches the tarball without running any install script. Both the tarball and
# the extracted library are checked against pinned sha256 sums.
set -euo pipefail

version=1.24.1
tgz_sha256=57181cf6e6e711b155c5b942d591fd63ded0b5de5c4922d51fd994e7f6ac2772
lib_sha256=53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.cache/onnxruntime/$version"
lib="$dest/libonnxruntime.so.1"

if [ -f "$lib" ] && echo "$lib_sha256  $lib" | sha256sum -c --status; then
	exit 0
fi

case "$(uname -s)/$(uname -m)" in
Linux/x86_64) ;;
*)
	echo "install-onnxruntime: only linux/x86_64 is packaged here; set MLGATE_ONNXRUNTIME_LIB to your libonnxruntime.so" >&2
	exit 1
	;;
esac

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
tar -xzf "$tgz" -C "$work" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
echo "$lib_sha256  $work/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" | sha256sum -c --status || {
	echo "install-onnxruntime: sha256 mismatch for libonnxruntime.so.1" >&2
	exit 1
}
mkdir -p "$dest"
install -m 0644 "$work/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib.tmp"
mv "$lib.tmp" "$lib"
echo "install-onnxruntime: installed $lib" >&2
