// Conversions between the storage types and fp32 without toolkit headers: 16-bit values travel as raw bits (the
// PTX conversions are in ptx.cuh).
#pragma once
#include "flash_params.cuh"
#include "ptx.cuh"

// bf16 is the upper half of an fp32: widening is a 16-bit shift.
__device__ __forceinline__ float ra_bfloat16_to_float(unsigned short bits) {
    return __uint_as_float(((unsigned)bits) << 16);
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
