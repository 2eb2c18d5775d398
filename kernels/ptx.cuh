// Every inline PTX statement of the kernels, each behind one small function: the only file in kernels/ that may
// contain asm (a test checks it). On a GPU these are the exact instructions the kernels always used; compiled as
// C++ for the software GPU (RA_SOFTWARE_GPU, tools/gpu-emulator) the same names come from the emulator's host
// implementations, which follow the PTX ISA's fragment tables (warp collectives gather all 32 lanes, cp.async lands
// at wait_group). Operands of 16-bit types travel as raw bits in 16- or 32-bit integers: no toolkit headers.
#pragma once

#if defined(RA_SOFTWARE_GPU)
#include "softgpu/ptx_host.h"
#else

// The dynamic shared memory array of a kernel (extern __shared__), aligned to `alignment` bytes.
#define RA_DYNAMIC_SHARED(type, name, alignment) extern __shared__ __align__(alignment) type name[]

// The shared-state-space address of a generic pointer into shared memory (what ldmatrix and cp.async take).
__device__ __forceinline__ unsigned ra_shared_address(const void* pointer) {
    return (unsigned)__cvta_generic_to_shared(pointer);
}

// Copies 16 bytes from global `source` to shared `destination`, asynchronously; src-size 0 (valid = false) copies
// nothing and zero-fills the 16 bytes. The data may be read only after ra_cp_async_commit and ra_cp_async_wait_all.
__device__ __forceinline__ void ra_cp_async_16(unsigned destination, const void* source, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(destination), "l"(source), "r"(valid ? 16 : 0));
}

// Closes the group of this thread's cp.async copies issued since the last commit.
__device__ __forceinline__ void ra_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

// Waits until every committed group of this thread's copies has landed (wait_group 0).
__device__ __forceinline__ void ra_cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

// Four 8x8 matrices of 16-bit elements: lanes 8m..8m+7 give the row addresses of matrix m, which lands in r[m] of
// every lane (lane l: row l / 4, columns 2(l % 4) and 2(l % 4) + 1, the lower column in the lower half).
__device__ __forceinline__ void ra_ldmatrix_x4(unsigned (&r)[4], unsigned address) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
}

// As ra_ldmatrix_x4, each matrix transposed: lane l gets rows 2(l % 4) and 2(l % 4) + 1 of column l / 4.
__device__ __forceinline__ void ra_ldmatrix_x4_trans(unsigned (&r)[4], unsigned address) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
}

// d += a·b for one m16n8k16 tile of fp16 operands: a row-major 16x16, b column-major 16x8, d fp32.
__device__ __forceinline__ void ra_mma_m16n8k16_f16(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// As ra_mma_m16n8k16_f16 with bf16 operands.
__device__ __forceinline__ void ra_mma_m16n8k16_bf16(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two fp32 values rounded to nearest even as one 32-bit word of fp16 (bf16), the lower column in the lower half.
__device__ __forceinline__ unsigned ra_pack_f16x2(float low, float high) {
    unsigned packed;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(packed) : "f"(high), "f"(low));
    return packed;
}
__device__ __forceinline__ unsigned ra_pack_bf16x2(float low, float high) {
    unsigned packed;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(packed) : "f"(high), "f"(low));
    return packed;
}

// fp16 bits to fp32 (exact).
__device__ __forceinline__ float ra_half_to_float(unsigned short bits) {
    float value;
    asm("{ .reg .b16 h; mov.b16 h, %1; cvt.f32.f16 %0, h; }" : "=f"(value) : "h"(bits));
    return value;
}

// fp32 to fp16 (bf16) bits, rounded to nearest even.
__device__ __forceinline__ unsigned short ra_float_to_half(float value) {
    unsigned short bits;
    asm("{ .reg .b16 h; cvt.rn.f16.f32 h, %1; mov.b16 %0, h; }" : "=h"(bits) : "f"(value));
    return bits;
}
__device__ __forceinline__ unsigned short ra_float_to_bfloat16(float value) {
    unsigned short bits;
    asm("{ .reg .b16 h; cvt.rn.bf16.f32 h, %1; mov.b16 %0, h; }" : "=h"(bits) : "f"(value));
    return bits;
}

// 2^x, approximate (ex2.approx.ftz: subnormal inputs and results flush to zero; 2^-inf = 0, 2^NaN = NaN).
__device__ __forceinline__ float ra_exp2_approx(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// Warp shuffles over all 32 lanes: x of lane (lane ^ mask), and x of lane `source`.
__device__ __forceinline__ float ra_shfl_xor(float x, int mask) { return __shfl_xor_sync(0xffffffffu, x, mask); }
__device__ __forceinline__ float ra_shfl(float x, int source) { return __shfl_sync(0xffffffffu, x, source); }

#endif
