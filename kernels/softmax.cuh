// The online softmax step in log2 units: the same name and rule as Softmax in src/RingAttention/Cpu.
// Scores arrive raw (Q·K); the row max is kept in log2 units (score · scale · log2 e, scale > 0 is checked by the
// host), so each probability is one FMA and one exp2. A row that has seen only -inf keeps max -inf and the
// exponent uses 0 in its place, so -inf - (-inf) never makes NaN and the row's probabilities and sum stay 0.
#pragma once
#include "mask.cuh"
#include "ptx.cuh"

__device__ __forceinline__ float ra_quad_max(float x) {
    x = fmaxf(x, ra_shfl_xor(x, 1));
    return fmaxf(x, ra_shfl_xor(x, 2));
}

__device__ __forceinline__ float ra_quad_sum(float x) {
    x += ra_shfl_xor(x, 1);
    return x + ra_shfl_xor(x, 2);
}

// Turns the score fragments into unnormalised probabilities, updates the running max (log2 units, identical in
// the four threads of a quad) and this thread's share of the running sum (the quad's shares add up to the row
// sum: they are reduced once, at the end), and rescales the output accumulator rows.
template <int kMTiles, int kNBlocks, int kDBlocks>
__device__ __forceinline__ void softmax_update(float (&s)[kMTiles][kNBlocks][4], float (&row_max)[kMTiles][2],
                                               float (&row_sum)[kMTiles][2], float (&acc_o)[kMTiles][kDBlocks][4],
                                               float scale_log2) {
#pragma unroll
    for (int i = 0; i < kMTiles; ++i) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float tile_max = RA_NEG_INF;
#pragma unroll
            for (int n = 0; n < kNBlocks; ++n) {
                tile_max = fmaxf(tile_max, fmaxf(s[i][n][2 * h], s[i][n][2 * h + 1]));
            }
            tile_max = ra_quad_max(tile_max);
            float previous_max = row_max[i][h];
            float new_max = fmaxf(previous_max, tile_max * scale_log2);
            float exponent_base = new_max == RA_NEG_INF ? 0.0f : new_max;
            float sum = 0.0f;
#pragma unroll
            for (int n = 0; n < kNBlocks; ++n) {
#pragma unroll
                for (int e = 2 * h; e < 2 * h + 2; ++e) {
                    float probability = ra_exp2_approx(fmaf(s[i][n][e], scale_log2, -exponent_base));
                    s[i][n][e] = probability;
                    sum += probability;
                }
            }
            float rescale = ra_exp2_approx(previous_max - exponent_base);
            row_sum[i][h] = row_sum[i][h] * rescale + sum;
            row_max[i][h] = new_max;
#pragma unroll
            for (int d = 0; d < kDBlocks; ++d) {
                acc_o[i][d][2 * h] *= rescale;
                acc_o[i][d][2 * h + 1] *= rescale;
            }
        }
    }
}
