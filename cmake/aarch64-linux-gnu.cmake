# Cross-compiles Drawbridge for ARM64 Linux with Debian's aarch64 toolchain (g++-aarch64-linux-gnu);
# tests run under qemu-user (qemu-aarch64). Debian's header-only and source packages stand in for
# the host's compiled libraries: fmt and toml++ in header-only mode, GoogleTest built from
# /usr/src/googletest (see cmake/cross_deps.cmake). Used by tools/test_arm64.sh.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/usr/aarch64-linux-gnu;-cpu;max)
set(DRAWBRIDGE_CROSS_DEPS ON CACHE BOOL "header-only deps for a cross build" FORCE)
