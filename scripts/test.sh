#!/usr/bin/env bash
# Sets up everything (Debian packages, ONNX Runtime, Python peers), then runs
# every test. Tests that use ONNX Runtime find it in .local/onnxruntime/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --all-targets "$@"
