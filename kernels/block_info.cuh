// Which keys a query row sees: the same rule and name as BlockInfo in src/RingAttention/Cpu. Key positions grow
// with the key index, so under the causal mask the query at position q sees exactly a prefix of the keys (those
// at positions <= q). Tiles past the last row's prefix are skipped; tiles inside the first row's prefix need no mask.
// 32-bit arithmetic is exact here: the host checks that every query and key position of a call fits in an int.
#pragma once
#include "flash_params.cuh"

__device__ __forceinline__ int ra_floor_div(int numerator, int denominator) {
    int quotient = numerator / denominator;
    return (numerator % denominator != 0 && numerator < 0) ? quotient - 1 : quotient;
}

// How many leading keys (of SeqLenK) the query at local row `query_row` (< SeqLenQ) sees.
__device__ __forceinline__ int visible_keys(const FlashFwdParams& p, int query_row, bool causal) {
    if (!causal) {
        return p.SeqLenK;
    }
    int query_position = p.QPosStart + query_row * p.QPosStride;
    int count = ra_floor_div(query_position - p.KPosStart, p.KPosStride) + 1;
    return count < 0 ? 0 : (count > p.SeqLenK ? p.SeqLenK : count);
}
