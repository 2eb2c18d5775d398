// Module images and their builds (module_builder.h).
#include "module_builder.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#ifndef SOFTGPU_INCLUDE_DIR
#error "build.sh defines SOFTGPU_INCLUDE_DIR (the engine's headers)"
#endif
#ifndef SOFTGPU_RUNTIME_LIBRARY
#error "build.sh defines SOFTGPU_RUNTIME_LIBRARY (the engine's static library)"
#endif

namespace softgpu {

const char kImageMagic[] = "RINGATTN-SOFTWARE-GPU-MODULE 1\n";

namespace {

void put(std::string& out, const std::string& field) {
    out += std::to_string(field.size());
    out += '\n';
    out += field;
}

bool get(const char*& cursor, std::string& field) {
    char* end = nullptr;
    unsigned long long size = std::strtoull(cursor, &end, 10);
    if (end == cursor || *end != '\n') return false;
    field.assign(end + 1, size);
    cursor = end + 1 + size;
    return true;
}

uint64_t fnv1a(const std::string& text, uint64_t hash = 1469598103934665603ull) {
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 1099511628211ull;
    }
    return hash;
}

std::string cache_directory() {
    if (const char* explicit_directory = std::getenv("SOFTGPU_CACHE"); explicit_directory && *explicit_directory) {
        return explicit_directory;
    }
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    std::string root = xdg && *xdg ? xdg : std::string(std::getenv("HOME") ? std::getenv("HOME") : "/tmp") + "/.cache";
    return root + "/ringattn/softgpu";
}

void make_directories(const std::string& path) {
    for (size_t slash = 1; slash != std::string::npos; slash = path.find('/', slash + 1)) {
        mkdir(path.substr(0, slash).c_str(), 0755);
    }
    mkdir(path.c_str(), 0755);
}

bool write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    return bool(out);
}

// The engine's identity: a module built against another engine is rebuilt.
std::string engine_identity() {
    struct stat info {};
    stat(SOFTGPU_RUNTIME_LIBRARY, &info);
    return std::string(SOFTGPU_RUNTIME_LIBRARY) + ":" + std::to_string(info.st_size) + ":" + std::to_string(info.st_mtime);
}

// Kernels are `extern "C" __global__ void [__launch_bounds__(...)] NAME(PARAMETERS)`: one thunk each, which calls
// the kernel with cuLaunchKernel's parameter pointers cast to the declared types.
std::string glue(const Program& program, std::string& log) {
    static const std::regex kernel(
        R"(extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(\w+)\s*\(([^)]*)\))");
    std::ostringstream thunks, names, table;
    int count = 0;
    for (auto it = std::sregex_iterator(program.source.begin(), program.source.end(), kernel); it != std::sregex_iterator(); ++it) {
        const std::string name = (*it)[1], parameters = (*it)[2];
        std::vector<std::string> types;
        std::stringstream split(parameters);
        for (std::string parameter; std::getline(split, parameter, ',');) {
            const auto last = parameter.find_last_not_of(" \t\n");
            if (last == std::string::npos) continue;
            auto begin = parameter.find_last_of(" \t\n*&", last);
            std::string type = parameter.substr(0, begin + 1);
            if (type.find_first_not_of(" \t\n") == std::string::npos) {
                log += "software GPU: cannot read the parameter types of kernel " + name + "\n";
                return "";
            }
            types.push_back(type);
        }
        thunks << "static void softgpu_thunk_" << count << "(void** parameters) { " << name << "(";
        for (size_t i = 0; i < types.size(); ++i) {
            thunks << (i ? ", " : "") << "*static_cast<" << types[i] << "*>(parameters[" << i << "])";
        }
        thunks << "); }\n";
        names << "\"" << name << "\", ";
        table << "softgpu_thunk_" << count << ", ";
        ++count;
    }
    std::ostringstream text;
    text << "#include \"" << program.name << "\"\n" << thunks.str()
         << "extern \"C\" __attribute__((visibility(\"default\"))) const char* const softgpu_kernel_names[] = {" << names.str()
         << "nullptr};\n"
         << "extern \"C\" __attribute__((visibility(\"default\"))) const softgpu::KernelThunk softgpu_kernel_thunks[] = {"
         << table.str() << "nullptr};\n"
         << "extern \"C\" __attribute__((visibility(\"default\"))) int softgpu_launch(softgpu::KernelThunk kernel, void** "
            "parameters, const softgpu::LaunchConfig* config, char* error, size_t capacity, uintptr_t* fault) {\n"
            "    return softgpu::launch(kernel, parameters, *config, error, capacity, fault);\n}\n";
    return text.str();
}

// Runs `command` with its output captured in `log`; true on exit status 0.
bool run(const std::string& command, std::string& log) {
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (!pipe) {
        log += "software GPU: could not start g++\n";
        return false;
    }
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) log.append(buffer, n);
    int status = pclose(pipe);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string quote(const std::string& text) {
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// The program with only the headers its source includes (transitively): NVRTC is handed every header of kernels/,
// and a change to one that a kernel does not include must not rebuild that kernel.
Program included_only(const Program& program) {
    static const std::regex include(R"re(#\s*include\s*"([^"]+)")re");
    Program reduced{program.name, program.source, {}, program.options};
    std::vector<std::string> pending{program.source};
    while (!pending.empty()) {
        const std::string text = pending.back();
        pending.pop_back();
        for (auto it = std::sregex_iterator(text.begin(), text.end(), include); it != std::sregex_iterator(); ++it) {
            const std::string name = (*it)[1];
            auto header = program.headers.find(name);
            if (header != program.headers.end() && !reduced.headers.count(name)) {
                reduced.headers[name] = header->second;
                pending.push_back(header->second);
            }
        }
    }
    return reduced;
}

// The module's path in the cache, built there first when absent.
bool ensure_built(const Program& full_program, std::string& path, std::string& log) {
    const Program program = included_only(full_program);
    const std::string image = serialize(program);
    char key[17];
    std::snprintf(key, sizeof key, "%016llx", (unsigned long long)fnv1a(engine_identity(), fnv1a(image)));
    const std::string directory = cache_directory();
    path = directory + "/" + program.name + "-" + key + ".so";
    if (access(path.c_str(), R_OK) == 0) return true;

    make_directories(directory);
    std::string work = directory + "/build-XXXXXX";
    if (!mkdtemp(work.data())) {
        log += "software GPU: cannot create a build folder in " + directory + "\n";
        return false;
    }
    bool ok = write_file(work + "/" + program.name, program.source);
    for (const auto& [name, text] : program.headers) {
        if (name.find('/') != std::string::npos || name.find("..") != std::string::npos) {
            log += "software GPU: header name " + name + " must be a plain file name\n";
            return false;
        }
        ok = ok && write_file(work + "/" + name, text);
    }
    const std::string glue_text = glue(program, log);
    ok = ok && !glue_text.empty() && write_file(work + "/softgpu_glue.cpp", glue_text);
    if (!ok) {
        log += "software GPU: cannot write the sources to " + work + "\n";
        return false;
    }
    std::string command = "g++ -std=c++17 -O2 -fPIC -shared -fvisibility=hidden -fno-strict-aliasing -w -DRA_SOFTWARE_GPU=1";
    for (const std::string& option : program.options) {
        // -D and -I pass through; the GPU-only options (-arch, -std, --ptxas-options, ...) mean nothing here.
        if (option.rfind("-D", 0) == 0) command += " " + quote(option);
    }
    command += " -I" + quote(SOFTGPU_INCLUDE_DIR) + " -include softgpu/cuda_prelude.h " + quote(work + "/softgpu_glue.cpp") +
               " " + quote(SOFTGPU_RUNTIME_LIBRARY) + " -o " + quote(work + "/module.so");
    std::string output;
    const bool built = run(command, output);
    // g++ names the files of the build folder; the program's own name is what the user knows.
    for (size_t at; (at = output.find(work + "/")) != std::string::npos;) output.erase(at, work.size() + 1);
    log += output;
    if (built) {
        rename((work + "/module.so").c_str(), path.c_str());  // atomic: concurrent builders each install a whole file
    }
    run("rm -rf " + quote(work), output);
    return built;
}

}  // namespace

std::string serialize(const Program& program) {
    std::string out = kImageMagic;
    put(out, program.name);
    put(out, program.source);
    put(out, std::to_string(program.headers.size()));
    for (const auto& [name, text] : program.headers) {
        put(out, name);
        put(out, text);
    }
    put(out, std::to_string(program.options.size()));
    for (const std::string& option : program.options) put(out, option);
    return out;
}

bool deserialize(const char* image, Program& program) {
    if (std::strncmp(image, kImageMagic, std::strlen(kImageMagic)) != 0) return false;
    const char* cursor = image + std::strlen(kImageMagic);
    std::string count;
    if (!get(cursor, program.name) || !get(cursor, program.source) || !get(cursor, count)) return false;
    for (unsigned long i = 0, n = std::stoul(count); i < n; ++i) {
        std::string name, text;
        if (!get(cursor, name) || !get(cursor, text)) return false;
        program.headers[name] = text;
    }
    if (!get(cursor, count)) return false;
    for (unsigned long i = 0, n = std::stoul(count); i < n; ++i) {
        std::string option;
        if (!get(cursor, option)) return false;
        program.options.push_back(option);
    }
    return true;
}

bool compile(const Program& program, std::string& log) {
    std::string path;
    return ensure_built(program, path, log);
}

bool build(const Program& program, Module& module, std::string& log) {
    std::string path;
    if (!ensure_built(program, path, log)) return false;
    module.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!module.handle) {
        log += std::string("software GPU: cannot load ") + path + ": " + dlerror() + "\n";
        return false;
    }
    auto names = (const char* const*)dlsym(module.handle, "softgpu_kernel_names");
    auto thunks = (const KernelThunk*)dlsym(module.handle, "softgpu_kernel_thunks");
    module.launch = (decltype(module.launch))dlsym(module.handle, "softgpu_launch");
    if (!names || !thunks || !module.launch) {
        log += "software GPU: " + path + " is not a software GPU module\n";
        dlclose(module.handle);
        return false;
    }
    for (int i = 0; names[i] != nullptr; ++i) module.kernels[names[i]] = thunks[i];
    return true;
}

}  // namespace softgpu
