#!/usr/bin/env bash
# Installs what PrefixKit needs to build and test, only when it is missing:
# Debian packages (HDF5, SQLite, OpenBLAS, OpenSSL's libcrypto, tools) and a Python
# virtual environment (.venv) with the packages the interop tests and benchmarks use.
#   scripts/setup.sh [--build-only]     --build-only: the Debian packages a build needs, no .venv
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=0
[ "${1:-}" = "--build-only" ] && build_only=1

packages=(libhdf5-dev hdf5-tools libsqlite3-dev sqlite3 libopenblas-dev libssl-dev zlib1g-dev pkg-config python3-venv time util-linux debootstrap)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ "$build_only" = 1 ] && exit 0

# Python side: fixtures are committed; the venv only serves interop tests and benchmark peers.
req="scripts/requirements.txt"
stamp=".venv/.requirements-installed"
if [ ! -x .venv/bin/python ] || ! cmp -s "$req" "$stamp"; then
  echo "setup: preparing .venv from $req" >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
fi
