#!/usr/bin/env bash
# Builds the ffmpeg Lambda layer: a static ffmpeg 7 at /opt/bin/ffmpeg, where extract-audio
# looks first. The binary comes from a pinned imageio-ffmpeg wheel on PyPI, checked against
# the sha256 below before anything is unpacked. No binary is committed.
#
#   layers/ffmpeg/build.sh OUT_DIR [arm64|x86_64]
#
# `sam build` runs it through layers/ffmpeg/Makefile with OUT_DIR=$ARTIFACTS_DIR.
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR [arm64|x86_64]}
arch=${2:-arm64}
version=0.7.0
case "$arch" in
  arm64)  platform=manylinux2014_aarch64 sha256=588a23c6a1c55a7cb51febfe97d3ef8dd5e7fa0ef7e14c7da8828e2886bdd3a3 binary=ffmpeg-linux-aarch64-v7.0.2 ;;
  x86_64) platform=manylinux2014_x86_64  sha256=4e1f36bef7bedd4bc5dc25f60a8345d88f57133fa1e754f09b411ac61b854408 binary=ffmpeg-linux-x86_64-v7.0.2 ;;
  *) echo "unknown architecture: $arch (arm64 or x86_64)" >&2; exit 2 ;;
esac
wheel=imageio_ffmpeg-${version}-py3-none-${platform}.whl
cache=${ECHOME_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/echome}/layers
mkdir -p "$cache"

if ! echo "$sha256  $cache/$wheel" | sha256sum --check --status 2>/dev/null; then
  rm -f "$cache/$wheel"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform "$platform" --dest "$cache" "imageio-ffmpeg==${version}"
  echo "$sha256  $cache/$wheel" | sha256sum --check --quiet || {
    echo "checksum mismatch for $wheel: refusing to build the layer" >&2
    rm -f "$cache/$wheel"
    exit 1
  }
fi

mkdir -p "$out/bin"
python3 - "$cache/$wheel" "imageio_ffmpeg/binaries/$binary" "$out/bin/ffmpeg" <<'PY'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
chmod 755 "$out/bin/ffmpeg"
echo "ffmpeg layer ($arch, imageio-ffmpeg $version) in $out/bin/ffmpeg"
