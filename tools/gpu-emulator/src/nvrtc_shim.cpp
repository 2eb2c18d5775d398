// libnvrtc-softgpu.so: the NVRTC API subset RingAttention.Cuda calls, for the software GPU. Selected only by naming
// it in RINGATTN_NVRTC (the project's existing override), never by a soname the real toolkit uses. Compiling a
// program builds it with g++ as C++ against the engine (its -D defines included; errors come back as
// NVRTC_ERROR_COMPILATION with g++'s messages), and the "CUBIN" (or "PTX") it returns is the software GPU's module
// image, which only the driver shim's cuModuleLoadData understands. It reports version 1.0, which no real NVRTC has,
// so the product's kernel cache never mixes these images with real ones.
#include <cstring>
#include <string>
#include <vector>

#include "module_builder.h"

namespace {

enum Result {
    Success = 0,
    OutOfMemory = 1,
    ProgramCreationFailure = 2,
    InvalidInput = 3,
    InvalidProgram = 4,
    InvalidOption = 5,
    Compilation = 6,
};

struct Program {
    softgpu::Program program;
    std::string log;
    std::string image;
    bool compiled = false;
};

constexpr int kArchitectures[] = {80, 86, 89, 90};

}  // namespace

extern "C" {

__attribute__((visibility("default"))) const char* nvrtcGetErrorString(int result) {
    switch (result) {
        case Success: return "NVRTC_SUCCESS";
        case OutOfMemory: return "NVRTC_ERROR_OUT_OF_MEMORY";
        case ProgramCreationFailure: return "NVRTC_ERROR_PROGRAM_CREATION_FAILURE";
        case InvalidInput: return "NVRTC_ERROR_INVALID_INPUT";
        case InvalidProgram: return "NVRTC_ERROR_INVALID_PROGRAM";
        case InvalidOption: return "NVRTC_ERROR_INVALID_OPTION";
        case Compilation: return "NVRTC_ERROR_COMPILATION";
        default: return "NVRTC_ERROR unknown";
    }
}

__attribute__((visibility("default"))) int nvrtcVersion(int* major, int* minor) {
    if (!major || !minor) return InvalidInput;
    *major = 1;
    *minor = 0;
    return Success;
}

__attribute__((visibility("default"))) int nvrtcGetNumSupportedArchs(int* count) {
    if (!count) return InvalidInput;
    *count = (int)(sizeof kArchitectures / sizeof kArchitectures[0]);
    return Success;
}

__attribute__((visibility("default"))) int nvrtcGetSupportedArchs(int* architectures) {
    if (!architectures) return InvalidInput;
    std::memcpy(architectures, kArchitectures, sizeof kArchitectures);
    return Success;
}

__attribute__((visibility("default"))) int nvrtcCreateProgram(void** handle, const char* source, const char* name, int header_count,
                                                              const char* const* headers, const char* const* include_names) {
    if (!handle || !source || header_count < 0 || (header_count > 0 && (!headers || !include_names))) return InvalidInput;
    auto* program = new Program;
    program->program.name = name && *name ? name : "default_program";
    program->program.source = source;
    for (int i = 0; i < header_count; ++i) {
        if (!headers[i] || !include_names[i]) {
            delete program;
            return InvalidInput;
        }
        program->program.headers[include_names[i]] = headers[i];
    }
    *handle = program;
    return Success;
}

__attribute__((visibility("default"))) int nvrtcDestroyProgram(void** handle) {
    if (!handle || !*handle) return InvalidProgram;
    delete static_cast<Program*>(*handle);
    *handle = nullptr;
    return Success;
}

__attribute__((visibility("default"))) int nvrtcCompileProgram(void* handle, int option_count, const char* const* options) {
    if (!handle) return InvalidProgram;
    auto* program = static_cast<Program*>(handle);
    program->program.options.clear();
    for (int i = 0; i < option_count; ++i) {
        if (!options[i]) return InvalidOption;
        program->program.options.push_back(options[i]);
    }
    program->log.clear();
    if (!softgpu::compile(program->program, program->log)) {
        return Compilation;
    }
    program->log += "software GPU: " + program->program.name + " built as C++ for the CPU emulator (no PTX, no ptxas)\n";
    program->image = softgpu::serialize(program->program);
    program->compiled = true;
    return Success;
}

__attribute__((visibility("default"))) int nvrtcGetProgramLogSize(void* handle, size_t* size) {
    if (!handle || !size) return InvalidInput;
    *size = static_cast<Program*>(handle)->log.size() + 1;
    return Success;
}

__attribute__((visibility("default"))) int nvrtcGetProgramLog(void* handle, char* log) {
    if (!handle || !log) return InvalidInput;
    const std::string& text = static_cast<Program*>(handle)->log;
    std::memcpy(log, text.c_str(), text.size() + 1);
    return Success;
}

static int image_size(void* handle, size_t* size) {
    if (!handle || !size) return InvalidInput;
    auto* program = static_cast<Program*>(handle);
    if (!program->compiled) return InvalidProgram;
    *size = program->image.size() + 1;
    return Success;
}

static int image(void* handle, char* out) {
    if (!handle || !out) return InvalidInput;
    auto* program = static_cast<Program*>(handle);
    if (!program->compiled) return InvalidProgram;
    std::memcpy(out, program->image.c_str(), program->image.size() + 1);
    return Success;
}

__attribute__((visibility("default"))) int nvrtcGetPTXSize(void* handle, size_t* size) { return image_size(handle, size); }
__attribute__((visibility("default"))) int nvrtcGetPTX(void* handle, char* ptx) { return image(handle, ptx); }
__attribute__((visibility("default"))) int nvrtcGetCUBINSize(void* handle, size_t* size) { return image_size(handle, size); }
__attribute__((visibility("default"))) int nvrtcGetCUBIN(void* handle, char* cubin) { return image(handle, cubin); }

}  // extern "C"
