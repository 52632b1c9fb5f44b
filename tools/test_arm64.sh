#!/usr/bin/env bash
# The ARM64 path, correctness only: cross-compiles the core, CPU-backend and model tests with
# Debian's aarch64 toolchain (cmake/aarch64-linux-gnu.cmake) and runs them under qemu-user with
# every CPU feature on (-cpu max: NEON with the dot-product extension, so dispatch picks the
# NEON kernels of src/backends/cpu/simd_neon.cpp and the backend tests check them against the
# reference). Needs: g++-aarch64-linux-gnu qemu-user (Debian); .ci/run installs them.
#   tools/test_arm64.sh [gtest filter]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-arm64
cmake -S . -B "$dir" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DDRAWBRIDGE_TESTS=ON >/dev/null
cmake --build "$dir" -j"$(nproc)" --target test_core test_backends test_llm
export DRAWBRIDGE_SHARED=${DRAWBRIDGE_SHARED:-$(pwd)/../shared}
# The CLI tests start the drawbridge binary themselves, which needs binfmt_misc; the library-level
# tests (golden text included, in test_llm) cover the same paths.
status=0
for t in test_core test_backends test_llm; do
  echo "== $t (qemu-aarch64)"
  qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu max "$dir/$t" --gtest_brief=1 --gtest_filter="${1:-*}" || status=1
done
exit $status
