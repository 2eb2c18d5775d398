#!/usr/bin/env bash
# Builds the software GPU with g++ into tools/gpu-emulator/build/ (or $SOFTGPU_BUILD): the engine's static library
# that every emulated kernel module links, the driver shim libcuda.so.1, the NVRTC shim libnvrtc-softgpu.so and the
# NCCL shim libnccl.so.2; then runs the engine's unit tests (ptx_semantics_test). Usage: bash build.sh [--no-test]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${SOFTGPU_BUILD:-$here/build}"
mkdir -p "$build"
flags=(-std=c++17 -O2 -g -fPIC -Wall -Wextra -Wno-unknown-pragmas -fno-strict-aliasing -I"$here/include")

# Rebuild only what changed: every output depends on all sources (small enough to rebuild together).
stamp="$build/.sources.sha256"
digest="$(cat "$here"/include/softgpu/*.h "$here"/src/* "$here"/tests/* "$here/build.sh" | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$digest" && -f "$build/libcuda.so.1" ]]; then
    echo "software GPU: up to date in $build"
else
    g++ "${flags[@]}" -fvisibility=hidden -c "$here/src/runtime.cpp" -o "$build/runtime.o"
    rm -f "$build/libsoftgpu-runtime.a"
    ar rcs "$build/libsoftgpu-runtime.a" "$build/runtime.o"
    defines=(-DSOFTGPU_INCLUDE_DIR="\"$here/include\"" -DSOFTGPU_RUNTIME_LIBRARY="\"$build/libsoftgpu-runtime.a\"")
    g++ "${flags[@]}" "${defines[@]}" -c "$here/src/module_builder.cpp" -o "$build/module_builder.o"
    g++ "${flags[@]}" -shared -Wl,-soname,libcuda.so.1 "$here/src/cuda_shim.cpp" "$build/module_builder.o" -o "$build/libcuda.so.1" -ldl -lpthread
    g++ "${flags[@]}" -shared -Wl,-soname,libnvrtc-softgpu.so "$here/src/nvrtc_shim.cpp" "$build/module_builder.o" -o "$build/libnvrtc-softgpu.so" -ldl -lpthread
    if [[ -f "$here/src/nccl_shim.cpp" ]]; then
        g++ "${flags[@]}" -shared -Wl,-soname,libnccl.so.2 -Wl,-rpath,"\$ORIGIN" "$here/src/nccl_shim.cpp" -o "$build/libnccl.so.2" -L"$build" -l:libcuda.so.1 -ldl -lpthread
    fi
    g++ "${flags[@]}" "$here/tests/ptx_semantics_test.cpp" "$build/libsoftgpu-runtime.a" -o "$build/ptx_semantics_test"
    echo "$digest" > "$stamp"
    echo "software GPU: built in $build"
fi
if [[ "${1:-}" != "--no-test" ]]; then
    "$build/ptx_semantics_test"
fi
