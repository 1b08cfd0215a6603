#!/usr/bin/env bash
# Build the dispatching pair (_C_avx2 for x86-64-v3, _C_avx512 for x86-64-v4) from this checkout
# with CMake and copy both modules into a package folder, next to (or instead of) a source
# build's _C. `import nncore` then loads the best one the CPU runs; NNCORE_ISA=avx2|avx512 picks.
#
#   tools/build_isa_pair.sh [PACKAGE_DIR]    (default: python/nncore of this checkout)
#
# PYTHON (default python3) must have pybind11, cmeel-eigen, cmake and ninja; BUILD_DIR defaults to
# build/isa-pair (incremental: a second run rebuilds only what changed).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
DEST=$(cd "${1:-$ROOT/python/nncore}" && pwd)
BUILD=${BUILD_DIR:-$ROOT/build/isa-pair}
GEN=()
command -v ninja > /dev/null && GEN=(-G Ninja)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DNNCORE_ISA_PAIR=ON \
    -DPython_EXECUTABLE="$(command -v "$PY")" -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" \
    > /dev/null
fi
cmake --build "$BUILD" --target _C_avx2 _C_avx512 --parallel "$(nproc 2>/dev/null || echo 2)"
cp "$BUILD"/_C_avx2*.so "$BUILD"/_C_avx512*.so "$DEST"/
echo "built _C_avx2 and _C_avx512 into $DEST"
