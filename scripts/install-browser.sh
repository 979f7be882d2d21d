#!/usr/bin/env bash
# The headless browser of the dev console test: Debian's chromium and its matching driver
# (a browser build downloaded by selenium or playwright cannot be fetched here), plus an emoji
# font so that Slack's emoji render. Needs root (apt-get); does nothing when they are present.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	&& dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
	echo "chromium and chromedriver are installed: $(chromedriver --version | cut -d' ' -f1-2)"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "error: installing chromium needs root: sudo $0" >&2
	exit 1
fi
echo "installing chromium, chromium-driver and fonts-noto-color-emoji with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-noto-color-emoji >/dev/null
echo "installed: $(chromedriver --version | cut -d' ' -f1-2)"
