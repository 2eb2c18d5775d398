// Which keys a query row sees: the same rule and name as BlockInfo in src/RingAttention/Cpu. Key positions grow
// with the key index, so under the causal mask the query at position q sees exactly a prefix of the keys (those
// at positions <= q). Tiles past the last row's prefix are skipped; tiles inside the first row's prefix need no mask.
// The host checks that every query and key position of a call fits in an int; a difference of two positions, or
// 1 + that difference, may not (a query at position 2^31 - 1 is 2^31 past a key at 0), so neither is an int here.
// constexpr, so a test (KernelIndexingTests) folds it with NVRTC and compares it with the CPU's rule.
#pragma once
#include "flash_params.cuh"

// start + index·stride, an actual position (which fits in an int), computed with wrap-around unsigned arithmetic:
// index·stride alone may exceed 2^31 when start is negative, which signed int arithmetic leaves undefined.
__host__ __device__ constexpr int ra_position(int start, int index, int stride) {
    return (int)((unsigned)start + (unsigned)index * (unsigned)stride);
}

// How many leading keys (of SeqLenK) the query at local row `query_row` (< SeqLenQ) sees: 0 when every key is past
// it, else 1 + floor((query position - KPosStart) / KPosStride), at most SeqLenK. The difference of two int
// positions lies in [0, 2^32) once it is known not to be negative, so unsigned 32-bit division is exact.
__host__ __device__ constexpr int visible_keys(const FlashFwdParams& p, int query_row, bool causal) {
    if (!causal) {
        return p.SeqLenK;
    }
    const long long distance = (long long)ra_position(p.QPosStart, query_row, p.QPosStride) - p.KPosStart;
    if (distance < 0) {
        return 0;
    }
    const unsigned last_visible = (unsigned)distance / (unsigned)p.KPosStride;
    return last_visible >= (unsigned)p.SeqLenK ? p.SeqLenK : (int)last_visible + 1;
}
