#!/usr/bin/env bash
# Installs the Debian packages named as arguments that are not installed
# yet (as root; otherwise says what is missing and exits 2).
set -euo pipefail

missing=()
for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
((${#missing[@]})) || exit 0
printf '==> installing missing Debian packages: %s\n' "${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
    echo "need root to install ${missing[*]}; install them and re-run" >&2
    exit 2
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
