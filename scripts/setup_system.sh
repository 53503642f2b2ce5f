#!/usr/bin/env bash
# Debian packages the host-client tests need (Blender, Mono, Chromium, ...). Needs root (CI runs as root);
# installs only what is missing, so a second run costs nothing.
set -euo pipefail

PACKAGES=(
)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup_system: missing ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 0
fi
echo "setup_system: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
