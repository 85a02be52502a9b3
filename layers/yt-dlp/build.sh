#!/usr/bin/env bash
# Builds the yt-dlp Lambda layer for FetchSampleFunction (Python runtime): the pinned yt-dlp
# wheel from PyPI, checked against the sha256 below before anything is unpacked, at
# /opt/python (on the runtime's sys.path); /opt/bin/yt-dlp, the command fetch-sample runs
# (YT_DLP); and /opt/echome-native, the exec wrapper (AWS_LAMBDA_EXEC_WRAPPER) that starts the
# function's Rust bootstrap in place of the Python runtime's own. yt-dlp is pure Python and the
# same wheel serves arm64 and x86_64. Nothing is committed but this script.
#
#   layers/yt-dlp/build.sh OUT_DIR
#
# `sam build` runs it through layers/yt-dlp/Makefile with OUT_DIR=$ARTIFACTS_DIR.
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR}
version=2026.10.26
sha256=a05c5b5d8562f7e8a62f5334348b406af4930d56d3a65f8021d14af0e22339ae
wheel=yt_dlp-${version}-py3-none-any.whl
cache=${ECHOME_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/echome}/layers
mkdir -p "$cache"

if ! echo "$sha256  $cache/$wheel" | sha256sum --check --status 2>/dev/null; then
  rm -f "$cache/$wheel"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$cache" "yt-dlp==${version}"
  echo "$sha256  $cache/$wheel" | sha256sum --check --quiet || {
    echo "checksum mismatch for $wheel: refusing to build the layer" >&2
    rm -f "$cache/$wheel"
    exit 1
  }
fi

rm -rf "$out/python" "$out/bin"
mkdir -p "$out/python" "$out/bin"
python3 - "$cache/$wheel" "$out/python" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    # The package only: the wheel's metadata and shell completions are not needed to run it.
    z.extractall(dest, [m for m in z.namelist() if m.startswith("yt_dlp/")])
PY

cat > "$out/bin/yt-dlp" <<'SH'
#!/bin/sh
# yt-dlp from the layer, with the runtime's Python.
PYTHONPATH=/opt/python${PYTHONPATH:+:$PYTHONPATH} exec python3 -m yt_dlp "$@"
SH
cat > "$out/echome-native" <<'SH'
#!/bin/sh
# AWS_LAMBDA_EXEC_WRAPPER: the Python runtime would start its own bootstrap ("$@"); the
# function is the Rust binary in the package, which speaks the same Runtime API.
exec "$LAMBDA_TASK_ROOT/bootstrap"
SH
chmod 755 "$out/bin/yt-dlp" "$out/echome-native"
echo "yt-dlp layer (yt-dlp $version) in $out"
