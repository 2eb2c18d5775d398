// The software GPU's execution model, shared by the kernels compiled as C++ (through cuda_prelude.h and
// ptx_host.h) and by the driver shim that launches them: every CUDA thread of a block is a fiber on one OS thread;
// warp collectives (ldmatrix, mma.sync, shuffles) wait until all 32 lanes arrive and then run once for the warp;
// __syncthreads is a block barrier; cp.async copies land when their thread waits for them. A shadow of the shared
// memory flags conflicting accesses between barriers and reads of data that has not landed.
#pragma once
#include <cstddef>
#include <cstdint>

namespace softgpu {

struct Index3 {
    unsigned x, y, z;
};

// The running thread's builtins.
const Index3& thread_index();
const Index3& block_index();
const Index3& block_dimensions();
const Index3& grid_dimensions();

// __syncthreads.
void barrier();

// Ends the launch with an error naming the running block and thread (never returns to the kernel).
[[noreturn]] void fail(const char* format, ...) __attribute__((format(printf, 1, 2)));

// The block's dynamic shared memory and a shared-state-space address (its byte offset) of a pointer into it.
unsigned char* shared_base();
unsigned shared_address(const void* pointer);

// Shadowed shared-memory accesses (the race detector), `bytes` from shared address `address`.
void shared_read(unsigned address, unsigned bytes);

// Warp collectives and cp.async (semantics in ptx_host.h).
void ldmatrix_x4(unsigned (&r)[4], unsigned address, bool transpose);
void mma_m16n8k16(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1, bool bf16);
float shuffle(float value, int lane_or_mask, bool exclusive_or);
void cp_async_16(unsigned destination, const void* source, unsigned source_bytes);
void cp_async_commit();
void cp_async_wait_all();

// What a launch runs: the kernel called with its parameters.
using KernelThunk = void (*)(void** parameters);

struct LaunchConfig {
    Index3 grid;
    Index3 block;
    unsigned shared_bytes;
    uint64_t schedule_seed;  // 0: round robin; otherwise a random order of the runnable threads at every sweep
};

// Runs every block of the launch; 0 on success, else -1 with the first error in `error` (a fault address, if the
// error was an access to an unmapped page, in *fault_address, else 0).
int launch(KernelThunk kernel, void** parameters, const LaunchConfig& config, char* error, size_t error_capacity,
           uintptr_t* fault_address);

}  // namespace softgpu
