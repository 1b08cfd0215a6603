#!/usr/bin/env bash
# The wheel on an AVX2-only CPU, emulated: under `qemu-x86_64 -cpu Haswell` (Debian's qemu-user,
# 7.2 or newer for AVX2/FMA) `import nncore` must load _C_avx2 and train (tools/smoke_test.py),
# and NNCORE_ISA=avx512 must fail with ImportError, not SIGILL.
#
#   tools/qemu_smoke.sh [PYTHON]    (a python whose nncore has the pair; default python3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${1:-python3}
# NOTE: qemu-user runs one ELF: the real interpreter, with the environment's module paths.
EXE=$("$PY" -c 'import os, sys; print(os.path.realpath(sys.executable))')
PATHS=$("$PY" -c 'import os, sys; print(os.pathsep.join(p for p in sys.path if p))')
export PYTHONPATH="$PATHS"
QEMU=(qemu-x86_64 -cpu Haswell)
# NOTE: TCG warns once per run about Haswell features it does not model (TSX, PCID...).
"${QEMU[@]}" "$EXE" "$ROOT/tools/smoke_test.py" --in-process --expect-isa avx2 \
  2> >(grep -v "TCG doesn't support requested feature" >&2)
set +e
out=$(NNCORE_ISA=avx512 "${QEMU[@]}" "$EXE" -c "import nncore" 2>&1)
rc=$?
set -e
if [ $rc -ne 1 ] || ! grep -q "ImportError: nncore: NNCORE_ISA=avx512 asks for _C_avx512" <<< "$out"; then
  echo "NNCORE_ISA=avx512 under Haswell: expected ImportError, got exit $rc:"; echo "$out"; exit 1
fi
echo "qemu Haswell: _C_avx2 trains; NNCORE_ISA=avx512 refused with ImportError"
