#!/usr/bin/env bash
# Install every Debian package ismfs needs to build, test and demo.
# Idempotent: when everything is already installed it prints nothing and exits 0.
# Usage: scripts/deps.sh [--quiet]   (run as root, or with sudo available)
set -euo pipefail

PKGS=(
    build-essential pkg-config
    libfuse3-dev fuse3            # the mount
    libssl-dev                    # crypt/: AES via EVP
    libxml2-dev libxml2-utils     # SMIL/CPIX/MPD; xmllint validates MPDs in tests
    liblmdb-dev                   # index/
    libjansson-dev                # AMS filter JSON
    libcmocka-dev                 # unit tests
    ffmpeg                        # test fixtures and the independent oracle (ffprobe)
    python3                       # test oracles compare JSON
)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
