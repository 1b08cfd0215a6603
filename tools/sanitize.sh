#!/usr/bin/env bash
# Build nncore's native module with AddressSanitizer and UndefinedBehaviorSanitizer in its own
# build folder (build/asan), then run the op tests (or the given pytest arguments) and the fuzz
# script against it. The tree's own python/nncore/_C*.so is left alone: the sanitized module goes
# into a copy of the package under build/asan/python.
#
# Usage: tools/sanitize.sh [pytest args...]      (default: tests/ops tests/tensor_ops)
#        NNCORE_SANITIZE_FUZZ=2000 tools/sanitize.sh   (fuzz calls after the tests; 0 = none)
#
# Any sanitizer report aborts the process (halt_on_error), so a clean exit means no report.
# Leak checking is off: CPython keeps interned objects alive at exit by design.
set -euo pipefail
TREE=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-/work/main/.venv/bin/python}
BUILD="$TREE/build/asan"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

# NOTE: builds are serialised machine-wide (the same locks as /work/tools/devbuild.sh), when
# those lock files exist; elsewhere (CI) the build just runs.
build() {
  if [ ! -f "$BUILD/build.ninja" ]; then
    cmake -S "$TREE" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DPython_EXECUTABLE="$PY" -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" \
      -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_MODULE_LINKER_FLAGS="$SAN" \
      -DCMAKE_SHARED_LINKER_FLAGS="$SAN" > /dev/null
  fi
  ninja -C "$BUILD" _C | tail -3
}
if [ -d /work/tools ] && [ -w /tmp ]; then
  (
    exec 9>/tmp/nncore-build.lock; flock 9
    exec 7>/tmp/nncore-gate.lock; flock -x 7
    exec 6>/tmp/nncore-cpu.lock; flock -s 6
    flock -u 7; exec 7>&-
    build
  )
else
  build
fi

# A copy of the Python package with the sanitized module in it.
mkdir -p "$BUILD/python"
rm -rf "$BUILD/python/nncore"
cp -r "$TREE/python/nncore" "$BUILD/python/nncore"
rm -f "$BUILD/python/nncore"/_C*.so
cp "$BUILD"/_C*.so "$BUILD/python/nncore/"

LIBASAN=$(g++ -print-file-name=libasan.so)
LIBUBSAN=$(g++ -print-file-name=libubsan.so)
export LD_PRELOAD="$LIBASAN $LIBUBSAN"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1:allocator_may_return_null=1:max_allocation_size_mb=4096:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export PYTHONPATH="$BUILD/python"
export NNCORE_DATA=${NNCORE_DATA:-/work/shared/data/mnist}
cd "$TREE"
if [ $# -eq 0 ]; then set -- tests/ops tests/tensor_ops; fi
# NOTE: on the shared dev machine test runs hold the CPU lock shared (busy.sh).
RUN=()
if [ -x /work/tools/busy.sh ]; then RUN=(/work/tools/busy.sh); fi
status=0
"${RUN[@]}" "$PY" -m pytest -q -p no:cacheprovider -x "$@" || status=$?
FUZZ=${NNCORE_SANITIZE_FUZZ:-0}
if [ "$FUZZ" -gt 0 ]; then
  # NOTE: no address-space limit under ASan (its shadow memory reserves terabytes).
  NNCORE_FUZZ_NO_RLIMIT=1 "${RUN[@]}" "$PY" tools/fuzz.py --calls "$FUZZ" --chunk 500 \
    --json "$BUILD/fuzz.json" || status=$?
fi
exit $status
