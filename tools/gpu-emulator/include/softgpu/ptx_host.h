// Host implementations of kernels/ptx.cuh for the software GPU, one per PTX statement, from the PTX ISA:
// - ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16: lanes 8m..8m+7 give the row addresses of matrix m, which lands
//   in register m of every lane; lane l holds row l/4, columns 2(l%4) and 2(l%4)+1 (lower column in the lower half);
//   .trans delivers the transpose (lane l: rows 2(l%4), 2(l%4)+1 of column l/4).
// - mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}: with g = lane/4, t = lane%4, A R0 = (g, 2t..2t+1),
//   R1 = (g+8, 2t..), R2 = (g, 2t+8..), R3 = (g+8, 2t+8..); B R0 = (k 2t..2t+1, n g), R1 = (k 2t+8..2t+9, n g);
//   C/D c0,c1 = (g, 2t..2t+1), c2,c3 = (g+8, 2t..2t+1). Products are exact in fp32; the sum runs over k in order
//   in fp32 from C (the tensor cores' own order and rounding are not modelled: compare with tolerances).
// - cp.async.cg.shared.global 16, src-size: copies src-size bytes and zero-fills the rest, landing at wait_group.
// - cvt.rn.{f16,bf16}[x2].f32: round to nearest even, NaN -> canonical NaN (0x7fff); cvt.f32.f16 exact.
// - ex2.approx.ftz.f32: 2^x with subnormal inputs and results flushed to zero (computed exactly, not approximately).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include "softgpu/runtime.h"

#define RA_DYNAMIC_SHARED(type, name, alignment) type* const name = reinterpret_cast<type*>(::softgpu::shared_base())

namespace softgpu {
inline uint32_t float_bits(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    return bits;
}
inline float bits_float(uint32_t bits) {
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}
}  // namespace softgpu

inline unsigned ra_shared_address(const void* pointer) { return ::softgpu::shared_address(pointer); }

inline void ra_cp_async_16(unsigned destination, const void* source, bool valid) {
    ::softgpu::cp_async_16(destination, source, valid ? 16u : 0u);
}
inline void ra_cp_async_commit() { ::softgpu::cp_async_commit(); }
inline void ra_cp_async_wait_all() { ::softgpu::cp_async_wait_all(); }

inline void ra_ldmatrix_x4(unsigned (&r)[4], unsigned address) { ::softgpu::ldmatrix_x4(r, address, false); }
inline void ra_ldmatrix_x4_trans(unsigned (&r)[4], unsigned address) { ::softgpu::ldmatrix_x4(r, address, true); }

inline void ra_mma_m16n8k16_f16(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    ::softgpu::mma_m16n8k16(d, a, b0, b1, false);
}
inline void ra_mma_m16n8k16_bf16(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    ::softgpu::mma_m16n8k16(d, a, b0, b1, true);
}

inline float ra_half_to_float(unsigned short bits) {
    const uint32_t sign = (uint32_t)(bits & 0x8000u) << 16;
    const uint32_t exponent = (bits >> 10) & 0x1fu, mantissa = bits & 0x3ffu;
    if (exponent == 0) {
        const float magnitude = (float)mantissa * 0x1p-24f;  // subnormal (or zero): exact
        return ::softgpu::bits_float(sign | ::softgpu::float_bits(magnitude));
    }
    if (exponent == 31) {
        return ::softgpu::bits_float(sign | 0x7f800000u | (mantissa << 13));
    }
    return ::softgpu::bits_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

inline unsigned short ra_float_to_half(float value) {
    const uint32_t bits = ::softgpu::float_bits(value);
    const uint32_t sign = (bits >> 16) & 0x8000u, magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u) {
        return 0x7fff;  // canonical NaN
    }
    if (magnitude >= 0x477ff000u) {
        return (unsigned short)(sign | 0x7c00u);  // |value| >= 65520 rounds to infinity (and infinity stays)
    }
    if (magnitude < 0x38800000u) {
        // Below the smallest normal half (2^-14): a multiple of 2^-24, rounded to nearest even by the FPU's mode.
        const float scaled = ::softgpu::bits_float(magnitude) * 0x1p24f;
        return (unsigned short)(sign | (uint32_t)std::nearbyint(scaled));
    }
    uint32_t half = (magnitude - 0x38000000u) >> 13;
    const uint32_t remainder = magnitude & 0x1fffu;
    if (remainder > 0x1000u || (remainder == 0x1000u && (half & 1u))) {
        ++half;
    }
    return (unsigned short)(sign | half);
}

inline unsigned short ra_float_to_bfloat16(float value) {
    const uint32_t bits = ::softgpu::float_bits(value);
    if ((bits & 0x7fffffffu) > 0x7f800000u) {
        return 0x7fff;  // canonical NaN
    }
    return (unsigned short)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

inline unsigned ra_pack_f16x2(float low, float high) {
    return (unsigned)ra_float_to_half(low) | ((unsigned)ra_float_to_half(high) << 16);
}
inline unsigned ra_pack_bf16x2(float low, float high) {
    return (unsigned)ra_float_to_bfloat16(low) | ((unsigned)ra_float_to_bfloat16(high) << 16);
}

inline float ra_exp2_approx(float x) {
    if (std::fpclassify(x) == FP_SUBNORMAL) {
        x = std::copysign(0.0f, x);
    }
    const float y = std::exp2(x);
    return std::fpclassify(y) == FP_SUBNORMAL ? 0.0f : y;
}

inline float ra_shfl_xor(float x, int mask) { return ::softgpu::shuffle(x, mask, true); }
inline float ra_shfl(float x, int source) { return ::softgpu::shuffle(x, source, false); }
