#!/usr/bin/env bash
# Installs the missing Debian packages of scripts/deps.txt for the given groups
# (build, run, test). Needs root (or sudo). Quiet when everything is there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build run)
want=()
while read -r group pkg; do
  [[ -z "${group:-}" || "$group" == \#* ]] && continue
  for g in "${groups[@]}"; do
    if [ "$g" = "$group" ]; then want+=("$pkg"); fi
  done
done < "$here/deps.txt"
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm (browser tests) may come from another packaging than Debian's; take any.
for g in "${groups[@]}"; do
  if [ "$g" = test ] && ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
