// The software GPU's "module images" and how they become code. The NVRTC shim hands the product a self-contained
// image (the program's source, its in-memory headers and its options) where the real NVRTC hands it a CUBIN; the
// driver shim's cuModuleLoadData builds that image with g++ as C++ against the engine (-DRA_SOFTWARE_GPU, so
// kernels/ptx.cuh takes the engine's host implementations) and loads the result. Builds are cached on disk by a
// hash of the image and the engine, so each kernel variant is compiled once per machine.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "softgpu/runtime.h"

namespace softgpu {

struct Program {
    std::string name;
    std::string source;
    std::map<std::string, std::string> headers;
    std::vector<std::string> options;
};

// The image's first bytes (the rest is length-prefixed fields).
extern const char kImageMagic[];

std::string serialize(const Program& program);
// False when `image` is not a software-GPU image (e.g. a real CUBIN or PTX).
bool deserialize(const char* image, Program& program);

// A built module: its kernels by name and the engine's launch entry.
struct Module {
    void* handle = nullptr;
    std::map<std::string, KernelThunk> kernels;
    int (*launch)(KernelThunk, void**, const LaunchConfig*, char*, size_t, uintptr_t*) = nullptr;
};

// Builds (or finds in the cache) and loads `program`; false with g++'s messages (or the reason) in `log`.
bool build(const Program& program, Module& module, std::string& log);

// Builds without loading (NVRTC's compile step): false with g++'s messages in `log`.
bool compile(const Program& program, std::string& log);

}  // namespace softgpu
