#!/usr/bin/env bash
# Browser tests of the web console: `bash tests/browser/run.sh BUILD_DIR` (called by make test).
# Installs playwright-core and mqtt from the committed package-lock.json into
# tests/browser/node_modules when missing or out of date, then runs node's test runner on each
# tests/*.test.mjs in turn (`--install-only`: install, run nothing). Works with Debian 12's
# nodejs 18 and npm 9 and with newer Node.js: each test sets its own timeout (node:test
# `{ timeout }`), no runner flag newer than Node 18 is used.
# Each test file starts its own mosquitto and otad on free ports in a temp data folder
# (lib/env.mjs) and stops them; screenshots go to tests/browser/out/.
# Environment: OTA_BROWSER_MOCK=1 runs against the in-memory API stand-in instead of otad
# (console work only); OTA_BROWSER_KEEP=1 keeps the temp data folders; CHROMIUM_PATH.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
export OTA_BUILD_DIR=$build

install_only=0
[ "${2:-}" = --install-only ] && install_only=1

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "browser tests: $tool not found (Debian packages nodejs npm)" >&2; exit 1; }
done
cd "$here"
# again whenever package-lock.json changed since the last install
if ! cmp -s package-lock.json node_modules/.ota-installed-lock.json; then
  echo "browser tests: installing playwright-core and mqtt (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.ota-installed-lock.json
fi
[ $install_only -eq 0 ] || exit 0

chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "browser tests: $chromium not found (Debian package chromium; make deps-test installs it)" >&2
  exit 1
fi
if [ "${OTA_BROWSER_MOCK:-0}" != 1 ]; then
  for f in "$build/server/otad" "$build/broker-plugin/ota_auth.so" /usr/sbin/mosquitto; do
    [ -e "$f" ] || { echo "browser tests: $f is missing (build first: make build)" >&2; exit 1; }
  done
fi

echo "browser tests: node $(node --version), playwright-core $(node -p "JSON.parse(require('fs').readFileSync('node_modules/playwright-core/package.json')).version"), $("$chromium" --version 2>/dev/null)"
rm -rf out
mkdir -p out
# One file at a time: each starts its own servers and browser.
rc=0
for f in tests/*.test.mjs; do
  node --test --test-reporter=spec "$f" || rc=1
done
exit $rc
