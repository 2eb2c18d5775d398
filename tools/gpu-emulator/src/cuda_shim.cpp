// libcuda.so.1 of the software GPU: the CUDA driver API subset RingAttention.Cuda calls, executing kernels with the
// engine on the CPU. It answers only when RINGATTN_SOFTWARE_GPU=1 (otherwise cuInit fails with a sentence saying
// what it is), so putting its folder on LD_LIBRARY_PATH by mistake on a GPU host never passes it off as the GPU.
//
// Model: SOFTGPU_DEVICES devices (default 8, filtered by CUDA_VISIBLE_DEVICES; SOFTGPU_ARCH sets the compute capability, default 80) with one primary
// context each; device memory is host memory, every allocation placed against a PROT_NONE guard page (its end
// rounded up to 16 bytes) with another guard page before it; copies and memsets check that their ranges lie inside
// one allocation. Streams execute in order and eagerly, at enqueue time (a legal schedule of every stream/event
// program: it cannot show a missing cross-stream wait, the engine's race detector covers the kernels themselves),
// except work the NCCL shim runs for a stream (a receive waits for its peer): events recorded after it complete
// when it does, and later work on the stream or on a stream waiting for such an event waits for it; events record
// a host clock. A kernel failure (race, deadlock, out-of-bounds access) is sticky as on a GPU: the
// launch returns CUDA_ERROR_LAUNCH_FAILED or CUDA_ERROR_ILLEGAL_ADDRESS, and so does every later call; the engine's
// sentence is in cuGetErrorString's text and on stderr.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "module_builder.h"

#define EXPORT extern "C" __attribute__((visibility("default")))

namespace {

enum Result {
    Success = 0,
    InvalidValue = 1,
    OutOfMemory = 2,
    NotInitialized = 3,
    InvalidDevice = 101,
    InvalidImage = 200,
    InvalidContext = 201,
    InvalidHandle = 400,
    NotFound = 500,
    NotReady = 600,
    IllegalAddress = 700,
    LaunchFailed = 719,
    NotSupported = 801,
};

struct Allocation {
    unsigned char* mapping;
    size_t mapping_bytes;
    size_t bytes;
};

struct Stream;

struct Event {
    unsigned flags;
    bool recorded = false;
    std::chrono::steady_clock::time_point time;
    std::vector<std::pair<Stream*, uint64_t>> after;  // complete when each stream's `finished` reaches its ticket
};

struct Function {
    softgpu::Module* module;
    softgpu::KernelThunk thunk;
    std::string name;
    int max_dynamic_shared = 48 * 1024;
};

// Work another library (the NCCL shim) runs on a stream's behalf, in order: `begun` tickets handed out, `finished`
// completed. Everything else on a stream runs at enqueue time, after waiting for the stream's outstanding tickets.
struct Stream {
    unsigned flags;
    std::atomic<uint64_t> begun{0};
    std::atomic<uint64_t> finished{0};
    std::vector<std::pair<Stream*, uint64_t>> waits;  // events (cuStreamWaitEvent) its next work waits for
};

void wait_for(const Stream* stream, uint64_t ticket) {
    while (stream->finished.load(std::memory_order_acquire) < ticket) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
}

std::recursive_mutex mutex;
bool initialised = false;
int sticky = Success;
std::string detail[1000];
std::map<uintptr_t, Allocation> allocations;  // by user address
size_t allocated_bytes = 0;
std::set<Stream*> streams;
std::set<Event*> events;
std::set<softgpu::Module*> modules;
std::set<Function*> functions;
int current_device = -1;
int primary_references[64];

const char* const kEnableVariable = "RINGATTN_SOFTWARE_GPU";
const char* const kDeviceName = "RingAttention software GPU (CPU emulator for tests, not a GPU)";

int env_int(const char* name, int fallback) {
    const char* text = std::getenv(name);
    return text && *text ? std::atoi(text) : fallback;
}
int physical_devices() { return std::max(1, std::min(64, env_int("SOFTGPU_DEVICES", 8))); }

// The devices this process sees: CUDA_VISIBLE_DEVICES (a comma-separated list of ordinals; the list stops at the
// first invalid entry, as with the driver) picks and orders them; each ordinal maps to a physical device.
const std::vector<int>& visible_devices() {
    static const std::vector<int> devices = [] {
        std::vector<int> list;
        const char* text = std::getenv("CUDA_VISIBLE_DEVICES");
        if (text == nullptr) {
            for (int d = 0; d < physical_devices(); ++d) list.push_back(d);
            return list;
        }
        std::string entries(text);
        size_t start = 0;
        while (start <= entries.size()) {
            size_t comma = entries.find(',', start);
            std::string entry = entries.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            char* end = nullptr;
            long value = std::strtol(entry.c_str(), &end, 10);
            if (entry.empty() || *end != '\0' || value < 0 || value >= physical_devices()) break;
            list.push_back((int)value);
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
        return list;
    }();
    return devices;
}
int device_count() { return (int)visible_devices().size(); }
int architecture() { return env_int("SOFTGPU_ARCH", 80); }
size_t total_memory() { return (size_t)env_int("SOFTGPU_MEMORY_MIB", 16384) << 20; }
int shared_optin() { return architecture() >= 90 ? 232448 : 166912; }

int fail(int code, const char* format, ...) {
    char text[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    detail[code] = text;
    std::fprintf(stderr, "software GPU: %s\n", text);
    return code;
}

// The allocation holding [address, address + bytes), or null.
const Allocation* find(uintptr_t address, size_t bytes) {
    auto it = allocations.upper_bound(address);
    if (it == allocations.begin()) return nullptr;
    --it;
    if (address - it->first + bytes > it->second.bytes) return nullptr;
    return &it->second;
}

std::string describe_address(uintptr_t address) {
    char text[200];
    for (const auto& [start, allocation] : allocations) {
        const uintptr_t mapping = (uintptr_t)allocation.mapping;
        if (address >= mapping && address < mapping + allocation.mapping_bytes) {
            const long long offset = (long long)(address - start);
            std::snprintf(text, sizeof text, "%lld bytes %s the %zu-byte allocation at 0x%llx", offset < 0 ? -offset : offset - (long long)allocation.bytes,
                          offset < 0 ? "before" : "past the end of", allocation.bytes, (unsigned long long)start);
            return text;
        }
    }
    return "in no allocation";
}

#define ENTER()                                                       \
    std::lock_guard<std::recursive_mutex> lock(mutex);                \
    if (!initialised) return NotInitialized;                          \
    if (sticky != Success) return sticky

bool range_ok(uint64_t device_pointer, size_t bytes) { return bytes == 0 || find((uintptr_t)device_pointer, bytes) != nullptr; }

}  // namespace

EXPORT int cuGetErrorName(int error, const char** name) {
    if (!name) return InvalidValue;
    switch (error) {
        case Success: *name = "CUDA_SUCCESS"; break;
        case InvalidValue: *name = "CUDA_ERROR_INVALID_VALUE"; break;
        case OutOfMemory: *name = "CUDA_ERROR_OUT_OF_MEMORY"; break;
        case NotInitialized: *name = "CUDA_ERROR_NOT_INITIALIZED"; break;
        case 100: *name = "CUDA_ERROR_NO_DEVICE"; break;
        case InvalidDevice: *name = "CUDA_ERROR_INVALID_DEVICE"; break;
        case InvalidImage: *name = "CUDA_ERROR_INVALID_IMAGE"; break;
        case InvalidContext: *name = "CUDA_ERROR_INVALID_CONTEXT"; break;
        case InvalidHandle: *name = "CUDA_ERROR_INVALID_HANDLE"; break;
        case NotFound: *name = "CUDA_ERROR_NOT_FOUND"; break;
        case NotReady: *name = "CUDA_ERROR_NOT_READY"; break;
        case IllegalAddress: *name = "CUDA_ERROR_ILLEGAL_ADDRESS"; break;
        case LaunchFailed: *name = "CUDA_ERROR_LAUNCH_FAILED"; break;
        case NotSupported: *name = "CUDA_ERROR_NOT_SUPPORTED"; break;
        default: *name = nullptr; return InvalidValue;
    }
    return Success;
}

EXPORT int cuGetErrorString(int error, const char** text) {
    if (!text) return InvalidValue;
    std::lock_guard<std::recursive_mutex> lock(mutex);
    if (error >= 0 && error < 1000 && !detail[error].empty()) {
        *text = detail[error].c_str();
        return Success;
    }
    switch (error) {
        case Success: *text = "no error"; break;
        case InvalidValue: *text = "invalid argument"; break;
        case OutOfMemory: *text = "out of memory"; break;
        case NotInitialized: *text = "initialization error"; break;
        case 100: *text = "no CUDA-capable device is detected"; break;
        case InvalidDevice: *text = "invalid device ordinal"; break;
        case InvalidImage: *text = "device kernel image is invalid"; break;
        case InvalidContext: *text = "invalid device context"; break;
        case InvalidHandle: *text = "invalid resource handle"; break;
        case NotFound: *text = "named symbol not found"; break;
        case NotReady: *text = "device not ready"; break;
        case IllegalAddress: *text = "an illegal memory access was encountered"; break;
        case LaunchFailed: *text = "unspecified launch failure"; break;
        case NotSupported: *text = "operation not supported"; break;
        default: *text = nullptr; return InvalidValue;
    }
    return Success;
}

EXPORT int cuInit(unsigned flags) {
    std::lock_guard<std::recursive_mutex> lock(mutex);
    if (flags != 0) return InvalidValue;
    const char* enabled = std::getenv(kEnableVariable);
    if (!enabled || std::strcmp(enabled, "1") != 0) {
        detail[NotSupported] = std::string("this libcuda.so.1 is RingAttention's software GPU (tools/gpu-emulator), not the NVIDIA driver; "
                                           "it runs only when ") + kEnableVariable + "=1";
        return NotSupported;
    }
    if (device_count() == 0) return 100;  // CUDA_ERROR_NO_DEVICE, as the driver when CUDA_VISIBLE_DEVICES hides every device
    initialised = true;
    return Success;
}

EXPORT int cuDriverGetVersion(int* version) {
    if (!version) return InvalidValue;
    *version = 12000;
    return Success;
}

EXPORT int cuDeviceGetCount(int* count) {
    ENTER();
    if (!count) return InvalidValue;
    *count = device_count();
    return Success;
}

EXPORT int cuDeviceGet(int* device, int ordinal) {
    ENTER();
    if (!device) return InvalidValue;
    if (ordinal < 0 || ordinal >= device_count()) return InvalidDevice;
    *device = ordinal;
    return Success;
}

EXPORT int cuDeviceGetName(char* name, int length, int device) {
    ENTER();
    if (!name || length <= 0) return InvalidValue;
    if (device < 0 || device >= device_count()) return InvalidDevice;
    std::snprintf(name, (size_t)length, "%s", kDeviceName);
    return Success;
}

EXPORT int cuDeviceGetUuid_v2(unsigned char* uuid, int device) {
    ENTER();
    if (!uuid) return InvalidValue;
    if (device < 0 || device >= device_count()) return InvalidDevice;
    // The same in every process, different per ordinal: two ranks on one software device are seen as sharing it.
    const unsigned char prefix[12] = {'r', 'a', '-', 's', 'o', 'f', 't', 'g', 'p', 'u', 0, 0};
    std::memcpy(uuid, prefix, 12);
    uuid[12] = 0;
    uuid[13] = 0;
    uuid[14] = 0;
    uuid[15] = (unsigned char)visible_devices()[device];
    return Success;
}

EXPORT int cuDeviceGetUuid(unsigned char* uuid, int device) { return cuDeviceGetUuid_v2(uuid, device); }

EXPORT int cuDeviceGetAttribute(int* value, int attribute, int device) {
    ENTER();
    if (!value) return InvalidValue;
    if (device < 0 || device >= device_count()) return InvalidDevice;
    switch (attribute) {
        case 1: *value = 1024; break;            // max threads per block
        case 8: *value = 48 * 1024; break;       // shared memory per block
        case 10: *value = 32; break;             // warp size
        case 13: *value = 1000; break;           // clock (kHz): 1 MHz, an emulator is no faster
        case 16: *value = 1; break;              // multiprocessors: one block at a time
        case 36: *value = 1000; break;           // memory clock (kHz)
        case 37: *value = 64; break;             // memory bus width (bits)
        case 75: *value = architecture() / 10; break;
        case 76: *value = architecture() % 10; break;
        case 97: *value = shared_optin(); break;  // shared memory per block, opt-in
        default: return fail(InvalidValue, "cuDeviceGetAttribute: attribute %d is not modelled by the software GPU", attribute);
    }
    return Success;
}

EXPORT int cuDeviceTotalMem_v2(size_t* bytes, int device) {
    ENTER();
    if (!bytes) return InvalidValue;
    if (device < 0 || device >= device_count()) return InvalidDevice;
    *bytes = total_memory();
    return Success;
}

EXPORT int cuDevicePrimaryCtxRetain(void** context, int device) {
    ENTER();
    if (!context) return InvalidValue;
    if (device < 0 || device >= device_count()) return InvalidDevice;
    ++primary_references[device];
    *context = (void*)(uintptr_t)(0x5000 + device);
    return Success;
}

EXPORT int cuDevicePrimaryCtxRelease_v2(int device) {
    std::lock_guard<std::recursive_mutex> lock(mutex);
    if (device < 0 || device >= device_count() || primary_references[device] == 0) return InvalidDevice;
    --primary_references[device];
    return Success;
}

EXPORT int cuCtxSetCurrent(void* context) {
    ENTER();
    const uintptr_t value = (uintptr_t)context;
    if (value == 0) {
        current_device = -1;
        return Success;
    }
    if (value < 0x5000 || value >= 0x5000 + (uintptr_t)device_count() || primary_references[value - 0x5000] == 0) return InvalidContext;
    current_device = (int)(value - 0x5000);
    return Success;
}

EXPORT int cuCtxSynchronize() {
    ENTER();
    if (current_device < 0) return InvalidContext;
    for (Stream* s : streams) wait_for(s, s->begun.load());
    return Success;
}

EXPORT int cuMemGetInfo_v2(size_t* free_bytes, size_t* total_bytes) {
    ENTER();
    if (!free_bytes || !total_bytes) return InvalidValue;
    *total_bytes = total_memory();
    *free_bytes = total_memory() - allocated_bytes;
    return Success;
}

EXPORT int cuMemAlloc_v2(uint64_t* device_pointer, size_t bytes) {
    ENTER();
    if (!device_pointer || bytes == 0) return InvalidValue;
    if (current_device < 0) return InvalidContext;
    if (bytes > total_memory() - allocated_bytes) return OutOfMemory;
    const size_t page = (size_t)getpagesize();
    const size_t rounded = (bytes + 15) & ~(size_t)15;
    const size_t data_pages = (rounded + page - 1) / page * page;
    const size_t mapping_bytes = data_pages + 2 * page;
    auto* mapping = (unsigned char*)mmap(nullptr, mapping_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapping == MAP_FAILED) return OutOfMemory;
    if (mprotect(mapping + page, data_pages, PROT_READ | PROT_WRITE) != 0) {
        munmap(mapping, mapping_bytes);
        return OutOfMemory;
    }
    // The data ends (16-byte rounded) at the upper guard page; fresh device memory holds garbage, here 0xff bytes.
    unsigned char* start = mapping + page + data_pages - rounded;
    std::memset(start, 0xff, rounded);
    allocations[(uintptr_t)start] = Allocation{mapping, mapping_bytes, bytes};
    allocated_bytes += bytes;
    *device_pointer = (uint64_t)(uintptr_t)start;
    return Success;
}

EXPORT int cuMemFree_v2(uint64_t device_pointer) {
    ENTER();
    auto it = allocations.find((uintptr_t)device_pointer);
    if (it == allocations.end()) return fail(InvalidValue, "cuMemFree: 0x%llx is not an allocation", (unsigned long long)device_pointer);
    allocated_bytes -= it->second.bytes;
    munmap(it->second.mapping, it->second.mapping_bytes);
    allocations.erase(it);
    return Success;
}

static int memset32(uint64_t destination, unsigned value, size_t count) {
    if (destination % 4 != 0) return InvalidValue;
    if (!range_ok(destination, count * 4)) {
        return fail(InvalidValue, "cuMemsetD32: %zu bytes at 0x%llx are not inside one allocation", count * 4, (unsigned long long)destination);
    }
    auto* words = (unsigned*)(uintptr_t)destination;
    for (size_t i = 0; i < count; ++i) words[i] = value;
    return Success;
}

EXPORT int cuMemsetD32_v2(uint64_t destination, unsigned value, size_t count) {
    ENTER();
    return memset32(destination, value, count);
}

static bool stream_valid(void* stream) { return stream == nullptr || streams.count(static_cast<Stream*>(stream)) != 0; }

// For work that executes now: waits until what the stream must follow has completed (its own earlier external
// work, and the events it was told to wait for). Markers (event records, waits) never block.
static bool stream_ok(void* stream) {
    if (!stream_valid(stream)) return false;
    auto* s = static_cast<Stream*>(stream);
    if (s == nullptr) return true;
    wait_for(s, s->begun.load(std::memory_order_acquire));
    for (const auto& [other, ticket] : s->waits) {
        if (streams.count(other)) wait_for(other, ticket);
    }
    s->waits.clear();
    return true;
}

// Hooks for the NCCL shim (linked against this library): external work enqueued on a stream.
EXPORT int softgpu_current_device() { return current_device; }
EXPORT uint64_t softgpu_stream_begin_external(void* stream) {
    std::lock_guard<std::recursive_mutex> lock(mutex);
    auto* s = static_cast<Stream*>(stream);
    if (s == nullptr || streams.count(s) == 0) return 0;
    stream_ok(s);  // the group's sends read buffers that earlier work on the stream (or awaited events) produces
    return s->begun.fetch_add(1) + 1;
}
EXPORT void softgpu_stream_end_external(void* stream, uint64_t ticket) {
    // Lock-free: a host thread may hold the driver lock while it waits for this very ticket.
    auto* s = static_cast<Stream*>(stream);
    if (s != nullptr && ticket != 0) {
        uint64_t expected = ticket - 1;
        while (!s->finished.compare_exchange_weak(expected, ticket, std::memory_order_release)) {
            if (expected >= ticket) return;
            expected = ticket - 1;
            std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
    }
}

EXPORT int cuMemsetD32Async(uint64_t destination, unsigned value, size_t count, void* stream) {
    ENTER();
    if (!stream_ok(stream)) return InvalidHandle;
    return memset32(destination, value, count);
}

static int copy(void* destination, const void* source, size_t bytes, bool destination_on_device, bool source_on_device, const char* call) {
    if (bytes == 0) return Success;
    if (destination_on_device && !range_ok((uintptr_t)destination, bytes)) {
        return fail(InvalidValue, "%s: destination 0x%llx + %zu bytes is not inside one allocation (%s)", call,
                    (unsigned long long)(uintptr_t)destination, bytes, describe_address((uintptr_t)destination + bytes - 1).c_str());
    }
    if (source_on_device && !range_ok((uintptr_t)source, bytes)) {
        return fail(InvalidValue, "%s: source 0x%llx + %zu bytes is not inside one allocation (%s)", call,
                    (unsigned long long)(uintptr_t)source, bytes, describe_address((uintptr_t)source + bytes - 1).c_str());
    }
    std::memmove(destination, source, bytes);
    return Success;
}

EXPORT int cuMemcpyHtoD_v2(uint64_t destination, const void* source, size_t bytes) {
    ENTER();
    return copy((void*)(uintptr_t)destination, source, bytes, true, false, "cuMemcpyHtoD");
}
EXPORT int cuMemcpyDtoH_v2(void* destination, uint64_t source, size_t bytes) {
    ENTER();
    return copy(destination, (const void*)(uintptr_t)source, bytes, false, true, "cuMemcpyDtoH");
}
EXPORT int cuMemcpyDtoD_v2(uint64_t destination, uint64_t source, size_t bytes) {
    ENTER();
    return copy((void*)(uintptr_t)destination, (const void*)(uintptr_t)source, bytes, true, true, "cuMemcpyDtoD");
}
EXPORT int cuMemcpyHtoDAsync_v2(uint64_t destination, const void* source, size_t bytes, void* stream) {
    ENTER();
    if (!stream_ok(stream)) return InvalidHandle;
    return copy((void*)(uintptr_t)destination, source, bytes, true, false, "cuMemcpyHtoDAsync");
}
EXPORT int cuMemcpyDtoHAsync_v2(void* destination, uint64_t source, size_t bytes, void* stream) {
    ENTER();
    if (!stream_ok(stream)) return InvalidHandle;
    return copy(destination, (const void*)(uintptr_t)source, bytes, false, true, "cuMemcpyDtoHAsync");
}
EXPORT int cuMemcpyDtoDAsync_v2(uint64_t destination, uint64_t source, size_t bytes, void* stream) {
    ENTER();
    if (!stream_ok(stream)) return InvalidHandle;
    return copy((void*)(uintptr_t)destination, (const void*)(uintptr_t)source, bytes, true, true, "cuMemcpyDtoDAsync");
}

EXPORT int cuStreamCreate(void** stream, unsigned flags) {
    ENTER();
    if (!stream) return InvalidValue;
    if (current_device < 0) return InvalidContext;
    auto* created = new Stream;
    created->flags = flags;
    streams.insert(created);
    *stream = created;
    return Success;
}

EXPORT int cuStreamDestroy_v2(void* stream) {
    std::lock_guard<std::recursive_mutex> lock(mutex);
    auto* s = static_cast<Stream*>(stream);
    if (!streams.count(s)) return InvalidHandle;
    wait_for(s, s->begun.load());  // as the driver does, the stream's work completes first
    streams.erase(s);
    delete s;
    return Success;
}

EXPORT int cuStreamSynchronize(void* stream) {
    ENTER();
    return stream_ok(stream) ? Success : InvalidHandle;
}

EXPORT int cuStreamWaitEvent(void* stream, void* event, unsigned flags) {
    ENTER();
    if (flags != 0) return InvalidValue;
    auto* e = static_cast<Event*>(event);
    if (!stream_valid(stream) || !events.count(e)) return InvalidHandle;
    // The stream's later work waits for the event (when it executes: stream_ok); the host does not wait here.
    if (auto* s = static_cast<Stream*>(stream)) {
        s->waits.insert(s->waits.end(), e->after.begin(), e->after.end());
    } else {
        for (const auto& [other, ticket] : e->after) {
            if (streams.count(other)) wait_for(other, ticket);
        }
    }
    return Success;
}

EXPORT int cuEventCreate(void** event, unsigned flags) {
    ENTER();
    if (!event) return InvalidValue;
    auto* created = new Event{flags, false, {}, {}};
    events.insert(created);
    *event = created;
    return Success;
}

EXPORT int cuEventDestroy_v2(void* event) {
    std::lock_guard<std::recursive_mutex> lock(mutex);
    auto* e = static_cast<Event*>(event);
    if (!events.erase(e)) return InvalidHandle;
    delete e;
    return Success;
}

EXPORT int cuEventRecord(void* event, void* stream) {
    ENTER();
    auto* e = static_cast<Event*>(event);
    if (!events.count(e) || !stream_valid(stream)) return InvalidHandle;
    e->recorded = true;
    e->time = std::chrono::steady_clock::now();
    e->after.clear();
    if (auto* s = static_cast<Stream*>(stream)) {
        e->after = s->waits;
        e->after.emplace_back(s, s->begun.load());
    }
    return Success;
}

static bool event_done(const Event* e) {
    for (const auto& [stream, ticket] : e->after) {
        if (streams.count(stream) && stream->finished.load() < ticket) return false;
    }
    return true;
}

EXPORT int cuEventSynchronize(void* event) {
    ENTER();
    auto* e = static_cast<Event*>(event);
    if (!events.count(e)) return InvalidHandle;
    for (const auto& [stream, ticket] : e->after) {
        if (streams.count(stream)) wait_for(stream, ticket);
    }
    return Success;
}

EXPORT int cuEventQuery(void* event) {
    ENTER();
    auto* e = static_cast<Event*>(event);
    if (!events.count(e)) return InvalidHandle;
    return event_done(e) ? Success : NotReady;
}

EXPORT int cuEventElapsedTime(float* milliseconds, void* start, void* end) {
    ENTER();
    auto* a = static_cast<Event*>(start);
    auto* b = static_cast<Event*>(end);
    if (!milliseconds) return InvalidValue;
    if (!events.count(a) || !events.count(b) || (a->flags & 2) || (b->flags & 2) || !a->recorded || !b->recorded) return InvalidHandle;
    *milliseconds = std::chrono::duration<float, std::milli>(b->time - a->time).count();
    return Success;
}

EXPORT int cuModuleLoadData(void** module, const void* image) {
    ENTER();
    if (!module || !image) return InvalidValue;
    if (current_device < 0) return InvalidContext;
    softgpu::Program program;
    if (!softgpu::deserialize(static_cast<const char*>(image), program)) {
        return fail(InvalidImage, "cuModuleLoadData: not a software GPU module image (a real CUBIN or PTX?); compile kernels with "
                                  "the software GPU's NVRTC (RINGATTN_NVRTC=.../libnvrtc-softgpu.so)");
    }
    auto* loaded = new softgpu::Module;
    std::string log;
    if (!softgpu::build(program, *loaded, log)) {
        delete loaded;
        return fail(InvalidImage, "cuModuleLoadData: building %s failed:\n%s", program.name.c_str(), log.c_str());
    }
    modules.insert(loaded);
    *module = loaded;
    return Success;
}

EXPORT int cuModuleUnload(void* module) {
    std::lock_guard<std::recursive_mutex> lock(mutex);
    auto* m = static_cast<softgpu::Module*>(module);
    if (!modules.erase(m)) return InvalidHandle;
    for (auto it = functions.begin(); it != functions.end();) {
        if ((*it)->module == m) {
            delete *it;
            it = functions.erase(it);
        } else {
            ++it;
        }
    }
    // The shared object stays loaded: unloading code a later module build may share buys nothing here.
    delete m;
    return Success;
}

EXPORT int cuModuleGetFunction(void** function, void* module, const char* name) {
    ENTER();
    auto* m = static_cast<softgpu::Module*>(module);
    if (!function || !name) return InvalidValue;
    if (!modules.count(m)) return InvalidHandle;
    auto it = m->kernels.find(name);
    if (it == m->kernels.end()) return fail(NotFound, "cuModuleGetFunction: the module has no kernel %s", name);
    auto* f = new Function{m, it->second, name};
    functions.insert(f);
    *function = f;
    return Success;
}

EXPORT int cuFuncSetAttribute(void* function, int attribute, int value) {
    ENTER();
    auto* f = static_cast<Function*>(function);
    if (!functions.count(f)) return InvalidHandle;
    if (attribute != 8) return fail(InvalidValue, "cuFuncSetAttribute: attribute %d is not modelled by the software GPU", attribute);
    if (value < 0 || value > shared_optin()) {
        return fail(InvalidValue, "cuFuncSetAttribute: %d bytes of dynamic shared memory exceed the device's %d", value, shared_optin());
    }
    f->max_dynamic_shared = value;
    return Success;
}

EXPORT int cuFuncGetAttribute(int* value, int attribute, void* function) {
    ENTER();
    auto* f = static_cast<Function*>(function);
    if (!value) return InvalidValue;
    if (!functions.count(f)) return InvalidHandle;
    switch (attribute) {
        case 0: *value = 1024; break;                   // max threads per block
        case 3: *value = 0; break;                      // local memory (no registers, so no spills, on a CPU)
        case 4: *value = 0; break;                      // registers: not a meaningful figure here
        case 8: *value = f->max_dynamic_shared; break;
        default: return fail(InvalidValue, "cuFuncGetAttribute: attribute %d is not modelled by the software GPU", attribute);
    }
    return Success;
}

EXPORT int cuLaunchKernel(void* function, unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x, unsigned block_y,
                          unsigned block_z, unsigned shared_bytes, void* stream, void** parameters, void** extra) {
    ENTER();
    auto* f = static_cast<Function*>(function);
    if (!functions.count(f) || !stream_ok(stream)) return InvalidHandle;
    if (extra != nullptr) return fail(InvalidValue, "cuLaunchKernel: `extra` is not supported by the software GPU");
    if ((int)shared_bytes > std::max(48 * 1024, f->max_dynamic_shared)) {
        return fail(InvalidValue, "cuLaunchKernel: %u bytes of dynamic shared memory, but %s allows %d (cuFuncSetAttribute)",
                    shared_bytes, f->name.c_str(), std::max(48 * 1024, f->max_dynamic_shared));
    }
    if ((unsigned long long)block_x * block_y * block_z > 1024 || grid_y > 65535 || grid_z > 65535) {
        return fail(InvalidValue, "cuLaunchKernel: block %ux%ux%u or grid y/z %u/%u out of range", block_x, block_y, block_z, grid_y, grid_z);
    }
    uint64_t seed = 0;
    if (const char* text = std::getenv("SOFTGPU_SCHEDULE_SEED"); text && *text) {
        seed = std::strcmp(text, "random") == 0 ? std::random_device{}() | 1ull : std::strtoull(text, nullptr, 10);
    }
    softgpu::LaunchConfig config{{grid_x, grid_y, grid_z}, {block_x, block_y, block_z}, shared_bytes, seed};
    char error[1024] = "";
    uintptr_t fault = 0;
    if (f->module->launch(f->thunk, parameters, &config, error, sizeof error, &fault) != 0) {
        sticky = fault != 0 ? IllegalAddress : LaunchFailed;
        std::string where = fault != 0 ? " (" + describe_address(fault) + ")" : "";
        return fail(sticky, "kernel %s (grid %ux%ux%u, block %ux%ux%u, schedule seed %llu): %s%s", f->name.c_str(), grid_x, grid_y,
                    grid_z, block_x, block_y, block_z, (unsigned long long)seed, error, where.c_str());
    }
    return Success;
}
