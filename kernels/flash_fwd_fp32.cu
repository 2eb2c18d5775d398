// The exactness path: the forward block kernel in fp32 on CUDA cores, for every head dim 1..256, every storage
// type (RA_ELEMENT_TYPE: 0 fp32, 1 fp16, 2 bf16; widened to fp32 on load) and any alignment. It follows
// CpuFlashKernel operation for operation where it matters: Q is multiplied by scale·log2 e before the dot
// products, each score is an FMA chain over the head dim from 0, the accumulator is rescaled then gets P·V as an
// FMA chain over the keys, and the softmax step is the CPU's (accurate exp2, -inf guards).
//
// One thread block: kWarps warps × kRowsPerWarp query rows of one (head, batch), streaming over kBlockN-key
// tiles staged in shared memory as fp32. Lane j scores key j of the tile; output column c of a row lives in lane
// c % 32, register c / 32.
#include "flash_params.cuh"
#include "block_info.cuh"
#include "convert.cuh"

#ifndef RA_ELEMENT_TYPE
#error "flash_fwd_fp32.cu needs RA_ELEMENT_TYPE"
#endif

namespace {
constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 4;
constexpr int kBlockM = kWarps * kRowsPerWarp;
constexpr int kBlockN = 32;
constexpr int kMaxHeadDim = 256;
constexpr int kColumnsPerLane = kMaxHeadDim / 32;
#define RA_NEG_INF_F32 __int_as_float(0xff800000u)

__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        x = fmaxf(x, ra_shfl_xor(x, offset));
    }
    return x;
}

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        x += ra_shfl_xor(x, offset);
    }
    return x;
}
}  // namespace

// Dynamic shared memory (fp32): Q [kBlockM][d], K [kBlockN][d + 1] (padded: lane j reads row j), V [kBlockN][d].
extern "C" __global__ void __launch_bounds__(kWarps * 32) flash_fwd_fp32_kernel(const FlashFwdParams p) {
    RA_DYNAMIC_SHARED(float, shared, 16);
    const int d = p.HeadDim;
    float* q_tile = shared;
    float* k_tile = q_tile + kBlockM * d;
    float* v_tile = k_tile + kBlockN * (d + 1);

    const int thread = threadIdx.x, lane = thread & 31, warp = thread >> 5;
    const int query_tile = (int)(gridDim.x - 1 - blockIdx.x);
    const int head = blockIdx.y, batch = blockIdx.z;
    const int first_row = query_tile * kBlockM;
    const int rows = min(kBlockM, p.SeqLenQ - first_row);
    const bool causal = p.IsCausal != 0;
    const int keys_seen = visible_keys(p, first_row + rows - 1, causal);
    if (keys_seen == 0) {
        return;
    }
    const int kv_head = head / (p.Heads / p.KvHeads);

    for (int index = thread; index < kBlockM * d; index += kWarps * 32) {
        const int r = index / d, c = index % d;
        float value = 0.0f;
        if (r < rows) {
            value = ra_load_element(p.Q, batch * p.QBatchStride + (long long)(first_row + r) * p.QRowStride + head * p.QHeadStride + c,
                                    RA_ELEMENT_TYPE) * p.ScaleSoftmaxLog2;
        }
        q_tile[index] = value;
    }

    float acc[kRowsPerWarp][kColumnsPerLane];
    float row_max[kRowsPerWarp], row_sum[kRowsPerWarp];
    int visible[kRowsPerWarp];
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
        const int r = warp * kRowsPerWarp + i;
        const bool live = r < rows;
        visible[i] = visible_keys(p, first_row + min(r, rows - 1), causal);
        const long long stat = batch * p.StatBatchStride + head * p.StatHeadStride + first_row + r;
        row_max[i] = live ? p.RowMax[stat] : RA_NEG_INF_F32;
        row_sum[i] = live ? p.RowSum[stat] : 0.0f;
        const float* o_row = p.OAccum + batch * p.OBatchStride + (long long)(first_row + r) * p.ORowStride + head * p.OHeadStride;
#pragma unroll
        for (int j = 0; j < kColumnsPerLane; ++j) {
            const int c = lane + 32 * j;
            acc[i][j] = live && c < d ? o_row[c] : 0.0f;
        }
    }

    const int key_tiles = (keys_seen + kBlockN - 1) / kBlockN;
    for (int tile = 0; tile < key_tiles; ++tile) {
        const int first_key = tile * kBlockN;
        __syncthreads();  // Q is staged; every warp is done with the previous K/V tile
        for (int index = thread; index < kBlockN * d; index += kWarps * 32) {
            const int j = index / d, c = index % d;
            const int key = first_key + j;
            float k_value = 0.0f, v_value = 0.0f;
            if (key < p.SeqLenK) {
                k_value = ra_load_element(p.K, batch * p.KBatchStride + (long long)key * p.KRowStride + kv_head * p.KHeadStride + c, RA_ELEMENT_TYPE);
                v_value = ra_load_element(p.V, batch * p.VBatchStride + (long long)key * p.VRowStride + kv_head * p.VHeadStride + c, RA_ELEMENT_TYPE);
            }
            k_tile[j * (d + 1) + c] = k_value;
            v_tile[j * d + c] = v_value;
        }
        __syncthreads();

        const int key = first_key + lane;
#pragma unroll
        for (int i = 0; i < kRowsPerWarp; ++i) {
            const float* q_row = q_tile + (warp * kRowsPerWarp + i) * d;
            const float* k_row = k_tile + lane * (d + 1);
            float score = 0.0f;
            for (int c = 0; c < d; ++c) {
                score = fmaf(q_row[c], k_row[c], score);
            }
            if (key >= visible[i]) {
                score = RA_NEG_INF_F32;
            }
            const float previous_max = row_max[i];
            const float new_max = fmaxf(previous_max, warp_max(score));
            const float exponent_base = new_max == RA_NEG_INF_F32 ? 0.0f : new_max;
            const float probability = exp2f(score - exponent_base);
            const float rescale = exp2f(previous_max - exponent_base);
            row_sum[i] = row_sum[i] * rescale + warp_sum(probability);
            row_max[i] = new_max;
#pragma unroll
            for (int j = 0; j < kColumnsPerLane; ++j) {
                acc[i][j] *= rescale;
            }
            for (int k = 0; k < kBlockN; ++k) {
                const float p_k = ra_shfl(probability, k);
                const float* v_row = v_tile + k * d;
#pragma unroll
                for (int j = 0; j < kColumnsPerLane; ++j) {
                    const int c = lane + 32 * j;
                    if (c < d) {
                        acc[i][j] = fmaf(p_k, v_row[c], acc[i][j]);
                    }
                }
            }
        }
    }

#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
        const int r = warp * kRowsPerWarp + i;
        if (r >= rows) {
            continue;
        }
        const long long stat = batch * p.StatBatchStride + head * p.StatHeadStride + first_row + r;
        if (lane == 0) {
            p.RowMax[stat] = row_max[i];
            p.RowSum[stat] = row_sum[i];
        }
        float* o_row = p.OAccum + batch * p.OBatchStride + (long long)(first_row + r) * p.ORowStride + head * p.OHeadStride;
#pragma unroll
        for (int j = 0; j < kColumnsPerLane; ++j) {
            const int c = lane + 32 * j;
            if (c < d) {
                o_row[c] = acc[i][j];
            }
        }
    }
}
