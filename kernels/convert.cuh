// Conversions between the storage types and fp32 without toolkit headers: 16-bit values travel as raw bits.
#pragma once
#include "flash_params.cuh"

__device__ __forceinline__ float ra_half_to_float(unsigned short bits) {
    float value;
    asm("{ .reg .b16 h; mov.b16 h, %1; cvt.f32.f16 %0, h; }" : "=f"(value) : "h"(bits));
    return value;
}

// bf16 is the upper half of an fp32: widening is a 16-bit shift.
__device__ __forceinline__ float ra_bfloat16_to_float(unsigned short bits) {
    return __uint_as_float(((unsigned)bits) << 16);
}

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

// Element `index` of a tensor of the given storage type, as fp32.
__device__ __forceinline__ float ra_load_element(const void* base, long long index, int element_type) {
    switch (element_type) {
        case RA_FLOAT16: return ra_half_to_float(static_cast<const unsigned short*>(base)[index]);
        case RA_BFLOAT16: return ra_bfloat16_to_float(static_cast<const unsigned short*>(base)[index]);
        default: return static_cast<const float*>(base)[index];
    }
}

// Stores fp32 `value` as element `index` of a tensor of the given storage type (round to nearest even).
__device__ __forceinline__ void ra_store_element(void* base, long long index, int element_type, float value) {
    switch (element_type) {
        case RA_FLOAT16: static_cast<unsigned short*>(base)[index] = ra_float_to_half(value); break;
        case RA_BFLOAT16: static_cast<unsigned short*>(base)[index] = ra_float_to_bfloat16(value); break;
        default: static_cast<float*>(base)[index] = value; break;
    }
}
