#!/bin/sh
# Install Debian's `chromium` (for the headless report test) when it is missing,
# this script runs as root and apt-get is available. Otherwise do nothing and exit 0.
# Called by `make test`; safe to run any number of times.
set -eu

if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    exit 0
fi

echo "install-chromium: installing Debian's chromium with apt-get (once)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq >/dev/null 2>&1; then
    echo "install-chromium: apt-get update failed; the browser test will be skipped" >&2
    exit 0
fi
if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
    echo "install-chromium: apt-get install chromium failed; the browser test will be skipped" >&2
fi
exit 0
