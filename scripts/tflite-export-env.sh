#!/usr/bin/env bash
# Make the TFLite converter venv (onnx2tf + TensorFlow) for
# `python -m edged.training.export_tflite`.
#
#   scripts/tflite-export-env.sh [VENV]      # default: .venv-tflite in the repository
#
# A venv of its own because onnx2tf pins numpy 1.26, onnx 1.19 and TensorFlow
# 2.19, which clash with edged's runtime (numpy 2) and training (torch) venvs.
# About 2.6 GB and a minute or two to install. Needs Python 3.11 (the pins are
# what pip resolves for onnx2tf there). edged itself is NOT installed into it:
# the exporter runs its worker from the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv-tflite}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" - <<'PY'
import sys
if sys.version_info[:2] != (3, 11):
    sys.exit(f"tflite-export-env: Python 3.11 wanted for the pinned toolchain, got {sys.version.split()[0]} "
             "(set PYTHON=/path/to/python3.11)")
PY
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# The repository's torch constraint does not apply here, and must not drag
# torch in: this venv has no torch at all.
unset PIP_CONSTRAINT
"$VENV/bin/pip" install -q --disable-pip-version-check -r requirements/tflite-export.txt
"$VENV/bin/python" -c "import onnx2tf, tensorflow as tf, onnxsim; print('converter venv ready:', '$VENV', 'onnx2tf', onnx2tf.__version__, 'tensorflow', tf.__version__)"
echo "Use it with: EDGED_TFLITE_PYTHON=$VENV/bin/python python -m edged.training.export_tflite --model models/edged-nlu [--full-int8]"
