#!/usr/bin/env bash
# Newer Blenders for the add-on's tests: Blender as a Python module (`bpy` from PyPI), one venv per version in
# .blender-venvs/<version>/ with grpcio/protobuf/numpy beside it. Idempotent: a venv whose stamp matches is kept.
#
#   DCCBRIDGE_BLENDER_VERSIONS=4.2,5.0   (default) the LTS artists start from and the newest
#   DCCBRIDGE_BLENDER_VERSIONS=all       4.2, 4.5 and 5.0
#   DCCBRIDGE_BLENDER_VERSIONS=none      none (the Debian binary only)
#
# ~1 GB and ~1.5 min per version. Blender 5.1+ needs Python 3.13 (not on these machines): add it to PINS below
# with a python3.13 when there is one. Exits non-zero when a version could not be set up (the tests then fail
# under CI=true and skip otherwise, saying which).
set -uo pipefail
cd "$(dirname "$0")/.."

declare -A PINS=([4.2]="bpy==4.2.*" [4.5]="bpy==4.5.*" [5.0]="bpy==5.0.*")
DEPS=(grpcio protobuf numpy)
PYTHON="${BLENDER_BPY_PYTHON:-$(command -v python3.11 || true)}"

wanted="${DCCBRIDGE_BLENDER_VERSIONS:-4.2,5.0}"
case "$wanted" in
  all) wanted="4.2,4.5,5.0" ;;
  none|"") exit 0 ;;
esac

if [ -z "$PYTHON" ]; then
  echo "setup_blender_versions: python3.11 not found (the bpy wheels for 4.2-5.0 are CPython 3.11)" >&2
  exit 1
fi

failed=()
IFS=',' read -ra versions <<<"$wanted"
for version in "${versions[@]}"; do
  version="${version// /}"
  pin="${PINS[$version]:-}"
  if [ -z "$pin" ]; then
    echo "setup_blender_versions: unknown Blender version '$version' (known: ${!PINS[*]})" >&2
    failed+=("$version")
    continue
  fi
  venv=".blender-venvs/$version"
  stamp="$pin ${DEPS[*]}"
  if [ -f "$venv/.dccbridge-stamp" ] && [ "$(cat "$venv/.dccbridge-stamp")" = "$stamp" ] && [ -x "$venv/bin/python" ]; then
    continue
  fi
  echo "setup_blender_versions: Blender $version ($pin) into $venv (~1 GB, ~1.5 min)"
  rm -rf "$venv"
  if "$PYTHON" -m venv "$venv" \
      && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$pin" "${DEPS[@]}" \
           2> >(grep -v "^WARNING: Location 'file:" >&2) \
      && "$venv/bin/python" -c "import bpy, grpc, google.protobuf, numpy; print('  bpy', bpy.app.version_string)"; then
    echo "$stamp" >"$venv/.dccbridge-stamp"
  else
    echo "setup_blender_versions: could not set up Blender $version in $venv" >&2
    failed+=("$version")
  fi
done
[ ${#failed[@]} -eq 0 ]
