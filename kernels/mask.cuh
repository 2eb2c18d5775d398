// The causal mask and the ragged last tile on a score tile held in mma.sync accumulator fragments: the same name
// and rule as Mask in src/RingAttention/Cpu. Each row sees a prefix of the keys (block_info.cuh): key j is hidden
// when j >= SeqLenK or, under the causal mask, when its position KPosStart + j·KPosStride is past the row's.
// Comparing positions costs one multiply-add per key instead of a division per row (registers are scarce in the
// main loop); the host checks that positions up to SeqLenK + 256 keys fit in an int.
#pragma once
#include "block_info.cuh"
#include "flash_params.cuh"
#include "fragments.cuh"

#define RA_NEG_INF __int_as_float(0xff800000u)

// s[i][n][e]: m-tile i (16 rows), n-block n (8 keys), element e of the m16n8 accumulator fragment (row
// accumulator_row(lane, e), key accumulator_column(lane, e) of the block: fragments.cuh). query_position[i][h] is
// the position of the row of elements 2h and 2h + 1 of m-tile i.
template <int kMTiles, int kNBlocks, bool kIsCausal>
__device__ __forceinline__ void apply_mask(float (&s)[kMTiles][kNBlocks][4], const int (&query_position)[kMTiles][2],
                                           const FlashFwdParams& p, int first_key, int lane) {
    const int key0 = first_key + fragments::accumulator_column(lane, 0);
    const int key_position0 = ra_position(p.KPosStart, key0, p.KPosStride);
#pragma unroll
    for (int n = 0; n < kNBlocks; ++n) {
#pragma unroll
        for (int column = 0; column < 2; ++column) {
            const int key = key0 + n * 8 + column;
            const int key_position = ra_position(key_position0, n * 8 + column, p.KPosStride);
#pragma unroll
            for (int i = 0; i < kMTiles; ++i) {
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    if (key >= p.SeqLenK || (kIsCausal && key_position > query_position[i][h])) {
                        s[i][n][2 * h + column] = RA_NEG_INF;
                    }
                }
            }
        }
    }
}
