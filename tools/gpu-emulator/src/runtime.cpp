// The software GPU's execution engine (runtime.h): fibers, the block scheduler, warp collectives, cp.async groups,
// the shared-memory race detector and the launch loop. One block runs at a time on the calling OS thread; its CUDA
// threads are fibers switched by a hand-written x86-64 context switch (no system call per switch).
#include "softgpu/runtime.h"

#include <cmath>
#include <csetjmp>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#if !defined(__x86_64__)
#error "the software GPU's fibers are written for x86-64"
#endif

// softgpu_switch(save, next): saves the callee-saved registers, MXCSR and the x87 control word on the current stack,
// stores the stack pointer in *save, and resumes the fiber whose saved stack pointer is `next`.
extern "C" void softgpu_switch(void** save, void* next);
asm(R"(
.text
.p2align 4
.type softgpu_switch,@function
softgpu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
.size softgpu_switch, .-softgpu_switch
)");

namespace softgpu {
namespace {

constexpr size_t kStackBytes = 256 * 1024;
constexpr unsigned kChunk = 16;         // race-detector granularity in bytes
constexpr int kNobody = -1, kMany = -2;  // reader/writer markers
constexpr uint32_t kNever = 0xffffffffu;

enum class State { Runnable, AtBarrier, AtCollective, Done };
enum class Collective { None, Ldmatrix, LdmatrixTrans, MmaF16, MmaBf16, ShuffleXor, ShuffleIndexed };

const char* collective_name(Collective kind) {
    switch (kind) {
        case Collective::Ldmatrix: return "ldmatrix.x4";
        case Collective::LdmatrixTrans: return "ldmatrix.x4.trans";
        case Collective::MmaF16: return "mma.m16n8k16.f16";
        case Collective::MmaBf16: return "mma.m16n8k16.bf16";
        case Collective::ShuffleXor: return "shfl.bfly";
        case Collective::ShuffleIndexed: return "shfl.idx";
        default: return "none";
    }
}

struct Copy {
    unsigned destination;
    unsigned source_bytes;
    unsigned char data[16];
};

struct Thread {
    void* stack_pointer = nullptr;
    State state = State::Done;
    Index3 index{};
    int linear = 0;
    std::vector<Copy> open_group;
    std::vector<std::vector<Copy>> committed;
};

// One 16-byte chunk of shared memory as the race detector sees it.
struct ChunkShadow {
    int writer;
    uint32_t write_epoch;
    int reader;
    uint32_t read_epoch;
    int pending_owner;  // a thread whose cp.async to this chunk has not landed, or kNobody
};

struct Warp {
    Collective kind = Collective::None;
    int arrived = 0;
    int exited = 0;
    unsigned in_u[32][6];
    float in_f[32][4];
    unsigned out_u[32][4];
    float out_f[32][4];
};

struct Block {
    Index3 index{}, dims{}, grid{};
    std::vector<Thread> threads;
    std::vector<Warp> warps;
    std::vector<unsigned char> shared;
    std::vector<ChunkShadow> shadow;
    uint32_t epoch = 0;
    int barrier_arrived = 0;
    int live = 0;
};

struct Engine {
    Block block;
    Thread* current = nullptr;
    void* scheduler_stack_pointer = nullptr;
    unsigned char* stacks = nullptr;
    size_t stack_count = 0;
    KernelThunk kernel = nullptr;
    void** parameters = nullptr;
    bool failed = false;
    std::string error;
    uintptr_t fault_address = 0;
    sigjmp_buf fault_jump;
    bool in_kernel = false;
    uint64_t rng = 0;
};

thread_local Engine* engine = nullptr;

Engine& E() { return *engine; }

void switch_to_scheduler() {
    Thread* self = E().current;
    softgpu_switch(&self->stack_pointer, E().scheduler_stack_pointer);
}

std::string where() {
    const Engine& e = E();
    if (e.current == nullptr) {
        return "block (" + std::to_string(e.block.index.x) + "," + std::to_string(e.block.index.y) + "," +
               std::to_string(e.block.index.z) + ")";
    }
    char text[160];
    std::snprintf(text, sizeof text, "block (%u,%u,%u) thread (%u,%u,%u)", e.block.index.x, e.block.index.y,
                  e.block.index.z, e.current->index.x, e.current->index.y, e.current->index.z);
    return text;
}

void record_error(const std::string& message) {
    if (!E().failed) {
        E().failed = true;
        E().error = message;
    }
}

[[noreturn]] void fiber_entry() {
    Engine& e = E();
    e.kernel(e.parameters);
    Thread* self = e.current;
    if (!self->open_group.empty() || !self->committed.empty()) {
        // Harmless on a GPU, but the data was never waited for: a kernel that needed it read it too early.
        char text[120];
        std::snprintf(text, sizeof text, ": exited with %zu cp.async copies never waited for",
                      self->open_group.size() + self->committed.size());
        record_error(where() + text);
    }
    self->state = State::Done;
    Block& b = e.block;
    --b.live;
    Warp& warp = b.warps[self->linear / 32];
    ++warp.exited;
    if (warp.arrived > 0) {
        record_error(where() + ": exited while other lanes of its warp wait at " + collective_name(warp.kind) +
                     " (a full-mask warp collective needs all 32 lanes)");
    }
    if (b.barrier_arrived > 0 && b.barrier_arrived == b.live) {
        ++b.epoch;
        b.barrier_arrived = 0;
        for (Thread& t : b.threads) {
            if (t.state == State::AtBarrier) t.state = State::Runnable;
        }
    }
    softgpu_switch(&self->stack_pointer, e.scheduler_stack_pointer);
    std::abort();  // a finished fiber is never resumed
}

void prepare_fiber(Thread& thread, unsigned char* stack) {
    // The stack as softgpu_switch leaves it: MXCSR and x87 control word, six zeroed registers, then fiber_entry as
    // the return address and a slot standing for fiber_entry's own return address (16-byte aligned as after a call).
    uintptr_t top = (uintptr_t)(stack + kStackBytes) & ~(uintptr_t)15;
    uint64_t* frame = (uint64_t*)(top - 72);
    uint32_t mxcsr;
    uint16_t fpcw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpcw));
    std::memset(frame, 0, 72);
    std::memcpy(frame, &mxcsr, 4);
    std::memcpy((char*)frame + 4, &fpcw, 2);
    frame[7] = (uint64_t)(uintptr_t)&fiber_entry;
    thread.stack_pointer = frame;
}

uint64_t next_random() {
    uint64_t x = E().rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    E().rng = x;
    return x;
}

ChunkShadow& chunk_at(unsigned address) { return E().block.shadow[address / kChunk]; }

void check_shared_range(unsigned address, unsigned bytes, const char* what) {
    const Block& b = E().block;
    if ((uint64_t)address + bytes > b.shared.size()) {
        fail("%s at shared address %u (+%u bytes) is outside the %zu bytes of dynamic shared memory", what, address,
             bytes, b.shared.size());
    }
}

void shadow_read(unsigned address, unsigned bytes, int reader) {
    Block& b = E().block;
    for (unsigned chunk = address / kChunk; chunk <= (address + bytes - 1) / kChunk; ++chunk) {
        ChunkShadow& s = b.shadow[chunk];
        if (s.pending_owner != kNobody) {
            fail("reads shared bytes %u..%u (for lane/thread %d) while thread %d's cp.async into them has not landed "
                 "(missing commit or wait_group before the read)",
                 chunk * kChunk, chunk * kChunk + kChunk - 1, reader, s.pending_owner);
        }
        if (s.write_epoch == kNever) {
            fail("reads shared bytes %u..%u (for thread %d) that nothing has written", chunk * kChunk,
                 chunk * kChunk + kChunk - 1, reader);
        }
        if (s.write_epoch == b.epoch && s.writer != reader) {
            fail("read-after-write race: thread %d reads shared bytes %u..%u that thread %d wrote since the last "
                 "__syncthreads",
                 reader, chunk * kChunk, chunk * kChunk + kChunk - 1, s.writer);
        }
        if (s.read_epoch == b.epoch && s.reader != reader) {
            s.reader = kMany;
        } else {
            s.reader = reader;
            s.read_epoch = b.epoch;
        }
    }
}

void shadow_write_check(unsigned chunk, int writer, const char* what) {
    Block& b = E().block;
    ChunkShadow& s = b.shadow[chunk];
    if (s.read_epoch == b.epoch && s.reader != writer) {
        fail("write-after-read race: %s to shared bytes %u..%u, which %s read since the last __syncthreads", what,
             chunk * kChunk, chunk * kChunk + kChunk - 1,
             s.reader == kMany ? "other threads" : ("thread " + std::to_string(s.reader)).c_str());
    }
    if (s.write_epoch == b.epoch && s.writer != writer) {
        fail("write-after-write race: %s to shared bytes %u..%u, which thread %d wrote since the last __syncthreads",
             what, chunk * kChunk, chunk * kChunk + kChunk - 1, s.writer);
    }
    if (s.pending_owner != kNobody && s.pending_owner != writer) {
        fail("%s to shared bytes %u..%u while thread %d's cp.async into them is in flight", what, chunk * kChunk,
             chunk * kChunk + kChunk - 1, s.pending_owner);
    }
}

// Registers this lane at the warp collective `kind` and returns once all 32 lanes have arrived and `compute` has
// run (on the last lane to arrive) over every lane's inputs.
template <typename Compute>
void collective(Collective kind, Compute compute) {
    Engine& e = E();
    Thread* self = e.current;
    Block& b = e.block;
    const int lane = self->linear % 32;
    Warp& warp = b.warps[self->linear / 32];
    if (warp.exited > 0) {
        fail("%s with %d lanes of the warp already exited (a full-mask warp collective needs all 32 lanes)",
             collective_name(kind), warp.exited);
    }
    if (warp.arrived == 0) {
        warp.kind = kind;
    } else if (warp.kind != kind) {
        fail("divergent warp collective: lane %d reaches %s while other lanes wait at %s", lane, collective_name(kind),
             collective_name(warp.kind));
    }
    if (++warp.arrived < 32) {
        self->state = State::AtCollective;
        switch_to_scheduler();
        return;
    }
    compute(warp);
    warp.arrived = 0;
    warp.kind = Collective::None;
    const int first = (self->linear / 32) * 32;
    for (int l = 0; l < 32; ++l) {
        Thread& t = b.threads[first + l];
        if (t.state == State::AtCollective) t.state = State::Runnable;
    }
}

uint16_t shared_u16(unsigned address) {
    uint16_t value;
    std::memcpy(&value, &E().block.shared[address], 2);
    return value;
}

float operand_to_float(uint16_t bits, bool bf16) {
    if (bf16) {
        uint32_t widened = (uint32_t)bits << 16;
        float value;
        std::memcpy(&value, &widened, 4);
        return value;
    }
    const uint32_t sign = (uint32_t)(bits & 0x8000u) << 16;
    const uint32_t exponent = (bits >> 10) & 0x1fu, mantissa = bits & 0x3ffu;
    uint32_t out;
    if (exponent == 0) {
        float magnitude = (float)mantissa * 0x1p-24f;
        std::memcpy(&out, &magnitude, 4);
        out |= sign;
    } else if (exponent == 31) {
        out = sign | 0x7f800000u | (mantissa << 13);
    } else {
        out = sign | ((exponent + 112) << 23) | (mantissa << 13);
    }
    float value;
    std::memcpy(&value, &out, 4);
    return value;
}

void segv_handler(int signal, siginfo_t* info, void* context);
struct sigaction previous_segv {}, previous_bus{};
bool handlers_installed = false;

void install_fault_handlers() {
    if (handlers_installed) return;
    struct sigaction action {};
    action.sa_sigaction = segv_handler;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, &previous_segv);
    sigaction(SIGBUS, &action, &previous_bus);
    handlers_installed = true;
}

void segv_handler(int signal, siginfo_t* info, void* context) {
    if (engine != nullptr && engine->in_kernel) {
        engine->fault_address = (uintptr_t)info->si_addr;
        engine->in_kernel = false;
        siglongjmp(engine->fault_jump, 1);
    }
    // Not ours: hand the fault to whoever handled it before (the .NET runtime, or the default action).
    const struct sigaction& previous = signal == SIGSEGV ? previous_segv : previous_bus;
    if (previous.sa_flags & SA_SIGINFO) {
        previous.sa_sigaction(signal, info, context);
    } else if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) {
        ::signal(signal, SIG_DFL);
        raise(signal);
    } else {
        previous.sa_handler(signal);
    }
}

bool run_block(Engine& e) {
    Block& b = e.block;
    const size_t count = b.threads.size();
    std::vector<int> order(count);
    for (size_t i = 0; i < count; ++i) order[i] = (int)i;
    while (b.live > 0 && !e.failed) {
        if (e.rng != 0) {
            for (size_t i = count; i > 1; --i) std::swap(order[i - 1], order[next_random() % i]);
        }
        bool progressed = false;
        for (int i : order) {
            Thread& t = b.threads[i];
            if (t.state != State::Runnable) continue;
            progressed = true;
            e.current = &t;
            softgpu_switch(&e.scheduler_stack_pointer, t.stack_pointer);
            e.current = nullptr;
            if (e.failed) break;
        }
        if (!progressed && !e.failed) {
            int at_barrier = 0, at_collective = 0;
            for (const Thread& t : b.threads) {
                at_barrier += t.state == State::AtBarrier;
                at_collective += t.state == State::AtCollective;
            }
            record_error(where() + ": deadlock: " + std::to_string(at_barrier) + " threads wait at __syncthreads and " +
                         std::to_string(at_collective) + " at warp collectives that can never complete");
        }
    }
    return !e.failed;
}

// Runs the block with a fault landing pad: a kernel's access to an unmapped page (the guard pages around every
// allocation) ends the launch with the address instead of killing the process.
__attribute__((noinline)) void run_block_guarded(Engine& e) {
    if (sigsetjmp(e.fault_jump, 1) != 0) {
        char text[200];
        std::snprintf(text, sizeof text, "%s: access to unmapped address %p (out of bounds of every allocation)",
                      where().c_str(), (void*)engine->fault_address);
        record_error(text);
        return;
    }
    engine->in_kernel = true;
    run_block(*engine);
    engine->in_kernel = false;
}

}  // namespace

const Index3& thread_index() { return E().current->index; }
const Index3& block_index() { return E().block.index; }
const Index3& block_dimensions() { return E().block.dims; }
const Index3& grid_dimensions() { return E().block.grid; }

void fail(const char* format, ...) {
    char text[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    record_error(where() + ": " + text);
    if (E().current != nullptr) {
        switch_to_scheduler();
    }
    std::abort();  // fail() outside a fiber is a bug of the engine itself
}

void barrier() {
    Engine& e = E();
    Block& b = e.block;
    e.current->state = State::AtBarrier;
    if (++b.barrier_arrived == b.live) {
        ++b.epoch;
        b.barrier_arrived = 0;
        for (Thread& t : b.threads) {
            if (t.state == State::AtBarrier) t.state = State::Runnable;
        }
    }
    switch_to_scheduler();
}

unsigned char* shared_base() { return E().block.shared.data(); }

unsigned shared_address(const void* pointer) {
    const Block& b = E().block;
    const unsigned char* p = static_cast<const unsigned char*>(pointer);
    if (p < b.shared.data() || p > b.shared.data() + b.shared.size()) {
        fail("ra_shared_address of a pointer that is not in the block's shared memory");
    }
    return (unsigned)(p - b.shared.data());
}

void shared_read(unsigned address, unsigned bytes) {
    check_shared_range(address, bytes, "read");
    shadow_read(address, bytes, E().current->linear);
}

void cp_async_16(unsigned destination, const void* source, unsigned source_bytes) {
    Engine& e = E();
    Thread* self = e.current;
    if (destination % 16 != 0) fail("cp.async 16 to shared address %u, which is not 16-byte aligned", destination);
    check_shared_range(destination, 16, "cp.async destination");
    if (source_bytes > 16) fail("cp.async src-size %u exceeds the copy size 16", source_bytes);
    if (source_bytes > 0 && (uintptr_t)source % 16 != 0) {
        fail("cp.async 16 from global address %p, which is not 16-byte aligned", source);
    }
    ChunkShadow& s = chunk_at(destination);
    shadow_write_check(destination / kChunk, self->linear, "cp.async");
    if (s.pending_owner == self->linear) {
        fail("cp.async to shared bytes %u..%u while this thread's earlier cp.async into them has not landed",
             destination, destination + 15);
    }
    Copy copy{destination, source_bytes, {}};
    // The global bytes are read when the copy is issued (a fault surfaces here); they land at wait_group.
    std::memcpy(copy.data, source, source_bytes);
    s.pending_owner = self->linear;
    self->open_group.push_back(copy);
}

void cp_async_commit() {
    Thread* self = E().current;
    self->committed.push_back(std::move(self->open_group));
    self->open_group.clear();
}

void cp_async_wait_all() {
    Engine& e = E();
    Block& b = e.block;
    Thread* self = e.current;
    for (auto& group : self->committed) {
        for (const Copy& copy : group) {
            ChunkShadow& s = chunk_at(copy.destination);
            s.pending_owner = kNobody;
            shadow_write_check(copy.destination / kChunk, self->linear, "cp.async landing");
            std::memcpy(&b.shared[copy.destination], copy.data, copy.source_bytes);
            std::memset(&b.shared[copy.destination + copy.source_bytes], 0, 16 - copy.source_bytes);
            s.writer = self->linear;
            s.write_epoch = b.epoch;
        }
    }
    self->committed.clear();
}

void ldmatrix_x4(unsigned (&r)[4], unsigned address, bool transpose) {
    Thread* self = E().current;
    const int lane = self->linear % 32;
    Warp& warp = E().block.warps[self->linear / 32];
    warp.in_u[lane][0] = address;
    const int first = self->linear - lane;
    collective(transpose ? Collective::LdmatrixTrans : Collective::Ldmatrix, [&](Warp& w) {
        // Matrix m's row j comes from the address of lane 8m + j: 8 16-bit elements.
        uint16_t m[4][8][8];
        for (int matrix = 0; matrix < 4; ++matrix) {
            for (int row = 0; row < 8; ++row) {
                const int source_lane = 8 * matrix + row;
                const unsigned row_address = w.in_u[source_lane][0];
                if (row_address % 16 != 0) {
                    fail("ldmatrix row address %u of lane %d is not 16-byte aligned", row_address, source_lane);
                }
                check_shared_range(row_address, 16, "ldmatrix row");
                shadow_read(row_address, 16, first + source_lane);
                for (int column = 0; column < 8; ++column) m[matrix][row][column] = shared_u16(row_address + 2 * column);
            }
        }
        for (int l = 0; l < 32; ++l) {
            const int row = l / 4, column = 2 * (l % 4);
            for (int matrix = 0; matrix < 4; ++matrix) {
                const uint16_t low = transpose ? m[matrix][column][row] : m[matrix][row][column];
                const uint16_t high = transpose ? m[matrix][column + 1][row] : m[matrix][row][column + 1];
                w.out_u[l][matrix] = (unsigned)low | ((unsigned)high << 16);
            }
        }
    });
    for (int i = 0; i < 4; ++i) r[i] = warp.out_u[lane][i];
}

void mma_m16n8k16(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1, bool bf16) {
    Thread* self = E().current;
    const int lane = self->linear % 32;
    Warp& warp = E().block.warps[self->linear / 32];
    for (int i = 0; i < 4; ++i) {
        warp.in_u[lane][i] = a[i];
        warp.in_f[lane][i] = d[i];
    }
    warp.in_u[lane][4] = b0;
    warp.in_u[lane][5] = b1;
    collective(bf16 ? Collective::MmaBf16 : Collective::MmaF16, [&](Warp& w) {
        float A[16][16], B[16][8], C[16][8];
        for (int l = 0; l < 32; ++l) {
            const int g = l / 4, t = l % 4;
            for (int half = 0; half < 2; ++half) {
                auto element = [&](unsigned word) { return operand_to_float((uint16_t)(word >> (16 * half)), bf16); };
                A[g][2 * t + half] = element(w.in_u[l][0]);
                A[g + 8][2 * t + half] = element(w.in_u[l][1]);
                A[g][2 * t + 8 + half] = element(w.in_u[l][2]);
                A[g + 8][2 * t + 8 + half] = element(w.in_u[l][3]);
                B[2 * t + half][g] = element(w.in_u[l][4]);
                B[2 * t + 8 + half][g] = element(w.in_u[l][5]);
                C[g][2 * t + half] = w.in_f[l][half];
                C[g + 8][2 * t + half] = w.in_f[l][2 + half];
            }
        }
        for (int l = 0; l < 32; ++l) {
            const int g = l / 4, t = l % 4;
            for (int e = 0; e < 4; ++e) {
                const int row = g + 8 * (e / 2), column = 2 * t + e % 2;
                float sum = C[row][column];
                for (int k = 0; k < 16; ++k) sum = std::fma(A[row][k], B[k][column], sum);
                w.out_f[l][e] = sum;
            }
        }
    });
    for (int i = 0; i < 4; ++i) d[i] = warp.out_f[lane][i];
}

float shuffle(float value, int lane_or_mask, bool exclusive_or) {
    Thread* self = E().current;
    const int lane = self->linear % 32;
    Warp& warp = E().block.warps[self->linear / 32];
    warp.in_f[lane][0] = value;
    warp.in_u[lane][0] = (unsigned)lane_or_mask;
    collective(exclusive_or ? Collective::ShuffleXor : Collective::ShuffleIndexed, [&](Warp& w) {
        for (int l = 0; l < 32; ++l) {
            const int source = exclusive_or ? (l ^ (int)w.in_u[l][0]) : (int)w.in_u[l][0];
            // PTX: a source lane outside the 32 lanes (width 32) returns the lane's own value.
            w.out_f[l][0] = source >= 0 && source < 32 ? w.in_f[source][0] : w.in_f[l][0];
        }
    });
    return warp.out_f[lane][0];
}

int launch(KernelThunk kernel, void** parameters, const LaunchConfig& config, char* error, size_t error_capacity,
           uintptr_t* fault_address) {
    const size_t threads = (size_t)config.block.x * config.block.y * config.block.z;
    auto refuse = [&](const char* text) {
        std::snprintf(error, error_capacity, "%s", text);
        *fault_address = 0;
        return -1;
    };
    if (threads == 0 || threads > 1024) return refuse("block size must be 1..1024 threads");
    if (config.grid.x == 0 || config.grid.y == 0 || config.grid.z == 0) return refuse("grid dimensions must be >= 1");

    Engine e;
    Engine* outer = engine;
    engine = &e;
    e.kernel = kernel;
    e.parameters = parameters;
    e.rng = config.schedule_seed;
    const size_t stack_span = kStackBytes + (size_t)getpagesize();
    e.stacks = (unsigned char*)mmap(nullptr, stack_span * threads, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (e.stacks == MAP_FAILED) {
        engine = outer;
        return refuse("could not map the fibers' stacks");
    }
    for (size_t t = 0; t < threads; ++t) {
        mprotect(e.stacks + t * stack_span, (size_t)getpagesize(), PROT_NONE);  // stack overflow guard
    }
    install_fault_handlers();

    Block& b = e.block;
    b.dims = config.block;
    b.grid = config.grid;
    b.threads.resize(threads);
    b.warps.resize((threads + 31) / 32);
    b.shared.resize(config.shared_bytes);
    b.shadow.resize((config.shared_bytes + kChunk - 1) / kChunk);

    for (unsigned z = 0; z < config.grid.z && !e.failed; ++z) {
        for (unsigned y = 0; y < config.grid.y && !e.failed; ++y) {
            for (unsigned x = 0; x < config.grid.x && !e.failed; ++x) {
                b.index = {x, y, z};
                b.epoch = 0;
                b.barrier_arrived = 0;
                b.live = (int)threads;
                // Shared memory starts as garbage on a GPU: NaN bit patterns here, and "never written" in the shadow.
                std::memset(b.shared.data(), 0xff, b.shared.size());
                for (ChunkShadow& s : b.shadow) s = {kNobody, kNever, kNobody, kNever, kNobody};
                for (Warp& w : b.warps) w = Warp{};
                for (size_t t = 0; t < threads; ++t) {
                    Thread& thread = b.threads[t];
                    thread = Thread{};
                    thread.linear = (int)t;
                    thread.index = {(unsigned)(t % config.block.x), (unsigned)(t / config.block.x % config.block.y),
                                    (unsigned)(t / ((size_t)config.block.x * config.block.y))};
                    thread.state = State::Runnable;
                    prepare_fiber(thread, e.stacks + t * stack_span + getpagesize());
                }
                for (size_t w = 0; w < b.warps.size(); ++w) {
                    b.warps[w].exited = (int)std::max<long>(0, (long)(32 * (w + 1)) - (long)threads);
                }
                run_block_guarded(e);
            }
        }
    }
    e.in_kernel = false;
    munmap(e.stacks, stack_span * threads);
    engine = outer;
    *fault_address = e.fault_address;
    if (e.failed) {
        std::snprintf(error, error_capacity, "%s", e.error.c_str());
        return -1;
    }
    return 0;
}

}  // namespace softgpu
