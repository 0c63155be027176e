#!/usr/bin/env bash
# Install every Debian package ismfs needs to build, test and demo.
# Idempotent: when everything is already installed it prints nothing and exits 0.
# Also installs the tests' npm packages (tests/package-lock.json) into tests/node_modules.
# Usage: scripts/deps.sh [--quiet]   (run as root, or with sudo available)
#        scripts/deps.sh fuzz      only what `make fuzz` adds: clang and its libFuzzer runtime
set -euo pipefail

PKGS=(
    build-essential pkg-config
    libfuse3-dev fuse3            # the mount
    libssl-dev                    # crypt/: AES via EVP
    openssl                       # tests: the openssl command line is the AES/PlayReady oracle
    protobuf-compiler             # tests: protoc --decode_raw reads Widevine PSSH data
    libxml2-dev libxml2-utils     # SMIL/CPIX/MPD; xmllint validates MPDs in tests
    liblmdb-dev                   # index/
    libjansson-dev                # AMS filter JSON
    libcmocka-dev                 # unit tests
    ffmpeg                        # test fixtures and the independent oracle (ffprobe)
    python3                       # test oracles compare JSON
    nginx                         # make demo (examples/nginx.conf) serves the mount
    rsync                         # tests/integration/mount_rsync.sh copies the mount
    rclone                        # tests/integration/mount_rclone.sh: ismfs over rclone mount
    chromium                      # tests/integration/e2e_play.sh: players in headless Chromium
    wrk curl                      # tests/integration/load_nginx.sh: load through nginx
)

# `make fuzz` (tests/fuzz/): Debian's clang, whose -fsanitize=fuzzer runtime is in
# libclang-rt-N-dev (libclang-rt-dev depends on the default N). Not for `make check`.
fuzz=0
for a in "$@"; do [ "$a" != fuzz ] || fuzz=1; done
[ "$fuzz" -eq 0 ] || PKGS=(clang libclang-rt-dev)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js and npm run the box-level tests (tests/package.json: mp4box.js). Asked of the
# commands, not of dpkg: a machine may have them from elsewhere (a nodejs build that bundles
# npm), and Debian's npm would not install beside that.
if [ "$fuzz" -eq 0 ]; then
    command -v node >/dev/null || missing+=(nodejs)
    command -v npm >/dev/null || missing+=(npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    echo "deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The tests' npm packages, exactly as tests/package-lock.json pins them: installed when
# tests/node_modules is missing or was installed from another lock (a stamp holds its hash).
root="$(cd "$(dirname "$0")/.." && pwd)"
lock="$root/tests/package-lock.json"
stamp="$root/tests/node_modules/.ismfs-lock.sha256"
if [ "$fuzz" -eq 0 ] && [ -f "$lock" ]; then
    want=$(sha256sum "$lock" | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "deps: npm ci --prefix tests" >&2
        npm ci --prefix "$root/tests" --no-audit --no-fund --loglevel=error >/dev/null
        echo "$want" >"$stamp"
    fi
fi
