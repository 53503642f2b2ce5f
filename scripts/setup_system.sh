#!/usr/bin/env bash
# Debian packages the host-client tests need (Blender, Mono, Chromium, ...). Needs root (CI runs as root);
# installs only what is missing, so a second run costs nothing.
set -euo pipefail

PACKAGES=(
  blender xvfb xauth xdotool  # Blender add-on: headless tests (tests/test_blender_addon.py), panel screenshot under Xvfb
  mono-devel nunit-console libnunit-cil-dev  # Unity package core: mcs + NUnit (tests/test_unity_core.py)
  chromium  # Photoshop UXP plugin: the panel rendered headless and screenshotted (tests/test_photoshop_plugin.py)
  postgresql  # the shared job store's tests: initdb + pg_ctl per test session (tests/postgres_support.py)
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
