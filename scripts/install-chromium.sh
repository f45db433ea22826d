#!/usr/bin/env bash
# Installs Debian's chromium, which the status page's browser test
# (TestStatusPageInBrowser, and `make screenshot`) drives, when it is
# missing: with apt-get when running as root, otherwise it says how. The
# test fails, never skips, without a browser.
set -euo pipefail

if [[ -n "${MLGATE_CHROMIUM:-}" ]] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
	exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
	echo "installing chromium (apt-get install -y chromium) for the status page's browser test" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends chromium >/dev/null ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }
else
	echo "chromium is missing: install it (sudo apt-get install -y chromium) or set MLGATE_CHROMIUM;" \
		"the status page's browser test fails without it" >&2
fi
