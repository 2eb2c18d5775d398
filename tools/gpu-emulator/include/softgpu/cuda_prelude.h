// What CUDA C++ adds to C++, for the kernels compiled by the software GPU (forced in with g++ -include): the
// execution-space keywords vanish, the builtins read the running fiber's indices, and the few device functions the
// kernels call are their host equivalents.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include "softgpu/runtime.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __restrict__ __restrict

#define threadIdx (::softgpu::thread_index())
#define blockIdx (::softgpu::block_index())
#define blockDim (::softgpu::block_dimensions())
#define gridDim (::softgpu::grid_dimensions())

inline void __syncthreads() { ::softgpu::barrier(); }

struct alignas(8) float2 {
    float x, y;
};
inline float2 make_float2(float x, float y) { return float2{x, y}; }

inline float __int_as_float(int value) {
    float result;
    std::memcpy(&result, &value, sizeof result);
    return result;
}
inline float __int_as_float(unsigned value) { return __int_as_float((int)value); }
inline float __uint_as_float(unsigned value) { return __int_as_float((int)value); }
inline int __float_as_int(float value) {
    int result;
    std::memcpy(&result, &value, sizeof result);
    return result;
}

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
using std::exp2f;
using std::fmaf;
using std::fmaxf;
using std::fminf;
using std::log;
