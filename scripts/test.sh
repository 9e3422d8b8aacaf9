#!/usr/bin/env bash
# Sets up everything (Debian packages, ONNX Runtime, Python peers), then runs
# every test. Tests that use ONNX Runtime find it in .local/onnxruntime/.
# The live tests then run once more on the low-latency bundle, so both
# shipped profiles pass the same sessions (tests/common: NEUROSPEAK_TEST_MODEL).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --all-targets "$@"
# (imported_decoders_stream_live brings its own bundles: once is enough.)
NEUROSPEAK_TEST_MODEL=models/demo-lowlatency cargo test --test live --test live_no_alloc "$@" \
  -- --skip imported_decoders_stream_live
