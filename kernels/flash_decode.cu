// The split-KV decode kernel (flash-decoding): the few new query rows of a decode step against one rank's KV cache
// shard. Decode is memory-bound (each cached K/V row serves only the step's queries), so a thread block streams its
// split of the cache once for every query row of one GQA group: the group's heads times the step's T new tokens
// form the M dimension (flash-attention's swap of seqlen_q and the group when seqlen_q = 1), kBlockM rows per block.
// The cache is split along its rows over thread blocks (grid x); each block leaves an fp32 partial state per row that
// flash_decode_combine.cu merges in split order. Masks are by global position (FlashDecodeParams): a cache key is
// visible to a query when its position is at most the query's, so the step's own tokens, already appended to the
// cache, attend causally to each other whatever the cache's order.
//
// CUDA cores in fp32, as flash_fwd_fp32.cu: K and V widen to fp32 in shared memory; lane j scores key j of a
// kBlockN-key tile, output column c of a row lives in lane c % 32, register c / 32. The online softmax keeps the row
// max in log2 units (Q is pre-multiplied by scale · log2 e) with the -inf guards of softmax.cuh.
//   RA_ELEMENT_TYPE  storage type of the cache: 0 fp32, 1 fp16, 2 bf16
//   RA_HEAD_DIM      64 or 128: the head dim compiled in (loops unroll); 0: any head dim up to 256, read at run time
// Grid: x = split, y = kv head · m-tiles + m-tile, z = batch.
#include "flash_params.cuh"
#include "convert.cuh"

#if !defined(RA_ELEMENT_TYPE) || !defined(RA_HEAD_DIM)
#error "flash_decode.cu needs RA_ELEMENT_TYPE and RA_HEAD_DIM"
#endif

namespace {
constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 4;
constexpr int kBlockM = kWarps * kRowsPerWarp;
constexpr int kBlockN = 32;
constexpr int kMaxHeadDim = RA_HEAD_DIM > 0 ? RA_HEAD_DIM : 256;
constexpr int kColumnsPerLane = (kMaxHeadDim + 31) / 32;
#define RA_DECODE_NEG_INF __int_as_float(0xff800000u)

static_assert(RA_HEAD_DIM == 0 || RA_HEAD_DIM % 32 == 0, "a compiled head dim fills whole lanes");

// Compiled head dims load the cache in 16-byte chunks (8 fp16/bf16 or 4 fp32 elements): rows of 64 or 128 elements
// start 16-byte aligned at every row, head and batch stride the host passes (the cache is [batch, kvHeads, capacity,
// headDim] in one allocation). The run-time head dim loads element by element.
constexpr int kElementBytes = RA_ELEMENT_TYPE == RA_FLOAT32 ? 4 : 2;
constexpr int kChunkElements = 16 / kElementBytes;
struct __align__(16) CacheChunk {
    unsigned words[4];
};

// Element e of a chunk as fp32 (16-bit elements: the lower half of a word is the lower element).
__device__ __forceinline__ float chunk_element(const CacheChunk& chunk, int e) {
    if (RA_ELEMENT_TYPE == RA_FLOAT32) {
        return __uint_as_float(chunk.words[e]);
    }
    const unsigned short bits = (unsigned short)(chunk.words[e / 2] >> (16 * (e % 2)));
    return RA_ELEMENT_TYPE == RA_FLOAT16 ? ra_half_to_float(bits) : ra_bfloat16_to_float(bits);
}

__device__ __forceinline__ float decode_warp_max(float x) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        x = fmaxf(x, ra_shfl_xor(x, offset));
    }
    return x;
}

__device__ __forceinline__ float decode_warp_sum(float x) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        x += ra_shfl_xor(x, offset);
    }
    return x;
}
}  // namespace

// Dynamic shared memory (fp32): Q [kBlockM][d], K [kBlockN][d + 1] (padded: lane j reads row j), V [kBlockN][d].
// At least 4 blocks per SM (up to 128 registers a thread): without the bound ptxas held the 16-bit head-dim-128
// variant to 64 registers on sm_90 and spilled (4 B stores, 16 B loads); with it no variant spills.
extern "C" __global__ void __launch_bounds__(kWarps * 32, 4) flash_decode_kernel(const FlashDecodeParams p) {
    RA_DYNAMIC_SHARED(float, shared, 16);
    const int d = RA_HEAD_DIM > 0 ? RA_HEAD_DIM : p.HeadDim;
    float* q_tile = shared;
    float* k_tile = q_tile + kBlockM * d;
    float* v_tile = k_tile + kBlockN * (d + 1);

    const int thread = threadIdx.x, lane = thread & 31, warp = thread >> 5;
    const int split = blockIdx.x, batch = blockIdx.z;
    const int group = p.Heads / p.KvHeads;
    const int m_rows = group * p.SeqLenQ;
    const int m_tiles = (m_rows + kBlockM - 1) / kBlockM;
    const int kv_head = blockIdx.y / m_tiles;
    const int first_m = (blockIdx.y % m_tiles) * kBlockM;
    const int first_key = split * p.KeysPerSplit;
    const int keys = max(0, min(p.KeysPerSplit, p.SeqLenK - first_key));
    const float* q = static_cast<const float*>(p.Q);

    // M row m is query head kv_head · group + m % group of new token m / group.
    for (int index = thread; index < kBlockM * d; index += kWarps * 32) {
        const int r = index / d, c = index % d, m = first_m + r;
        float value = 0.0f;
        if (m < m_rows) {
            value = q[batch * p.QBatchStride + (long long)(m / group) * p.QRowStride + (long long)(kv_head * group + m % group) * p.QHeadStride + c] *
                    p.ScaleSoftmaxLog2;
        }
        q_tile[index] = value;
    }

    float acc[kRowsPerWarp][kColumnsPerLane];
    float row_max[kRowsPerWarp], row_sum[kRowsPerWarp];
    int query_position[kRowsPerWarp];
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
        const int m = first_m + warp * kRowsPerWarp + i;
        query_position[i] = m < m_rows ? p.QPositions[m / group] : 0;
        row_max[i] = RA_DECODE_NEG_INF;
        row_sum[i] = 0.0f;
#pragma unroll
        for (int j = 0; j < kColumnsPerLane; ++j) {
            acc[i][j] = 0.0f;
        }
    }

    const long long k_base = batch * p.KBatchStride + kv_head * p.KHeadStride;
    const long long v_base = batch * p.VBatchStride + kv_head * p.VHeadStride;
    for (int tile = 0; tile < keys; tile += kBlockN) {
        __syncthreads();  // Q is staged; every warp is done with the previous K/V tile
        if (RA_HEAD_DIM > 0) {
            constexpr int kChunksPerRow = kMaxHeadDim / kChunkElements;
            for (int index = thread; index < kBlockN * kChunksPerRow; index += kWarps * 32) {
                const int j = index / kChunksPerRow, c = (index % kChunksPerRow) * kChunkElements;
                const long long key = first_key + tile + j;
                CacheChunk k_chunk = {}, v_chunk = {};
                if (tile + j < keys) {
                    k_chunk = *reinterpret_cast<const CacheChunk*>(static_cast<const char*>(p.K) + (k_base + key * p.KRowStride + c) * kElementBytes);
                    v_chunk = *reinterpret_cast<const CacheChunk*>(static_cast<const char*>(p.V) + (v_base + key * p.VRowStride + c) * kElementBytes);
                }
#pragma unroll
                for (int e = 0; e < kChunkElements; ++e) {
                    k_tile[j * (d + 1) + c + e] = chunk_element(k_chunk, e);
                    v_tile[j * d + c + e] = chunk_element(v_chunk, e);
                }
            }
        } else {
            for (int index = thread; index < kBlockN * d; index += kWarps * 32) {
                const int j = index / d, c = index % d;
                const long long key = first_key + tile + j;
                float k_value = 0.0f, v_value = 0.0f;
                if (tile + j < keys) {
                    k_value = ra_load_element(p.K, k_base + key * p.KRowStride + c, RA_ELEMENT_TYPE);
                    v_value = ra_load_element(p.V, v_base + key * p.VRowStride + c, RA_ELEMENT_TYPE);
                }
                k_tile[j * (d + 1) + c] = k_value;
                v_tile[j * d + c] = v_value;
            }
        }
        __syncthreads();

        const bool key_live = tile + lane < keys;
        const int key_position = key_live ? p.KPositions[first_key + tile + lane] : 0;
#pragma unroll
        for (int i = 0; i < kRowsPerWarp; ++i) {
            // Warp-uniform: rows past the group's M rows (few heads, one token) cost nothing.
            if (first_m + warp * kRowsPerWarp + i >= m_rows) {
                continue;
            }
            const float* q_row = q_tile + (warp * kRowsPerWarp + i) * d;
            const float* k_row = k_tile + lane * (d + 1);
            float score = 0.0f;
#pragma unroll 8
            for (int c = 0; c < d; ++c) {
                score = fmaf(q_row[c], k_row[c], score);
            }
            if (!key_live || (p.IsCausal != 0 && key_position > query_position[i])) {
                score = RA_DECODE_NEG_INF;
            }
            const float previous_max = row_max[i];
            const float new_max = fmaxf(previous_max, decode_warp_max(score));
            const float exponent_base = new_max == RA_DECODE_NEG_INF ? 0.0f : new_max;
            const float probability = exp2f(score - exponent_base);
            const float rescale = exp2f(previous_max - exponent_base);
            row_sum[i] = row_sum[i] * rescale + decode_warp_sum(probability);
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

    // Every (row, split) gets a state, the identity (max -inf, sum 0, O 0) where the split saw no key.
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
        const int m = first_m + warp * kRowsPerWarp + i;
        if (m >= m_rows) {
            continue;
        }
        const long long row = ((long long)batch * p.SeqLenQ + m / group) * p.Heads + kv_head * group + m % group;
        const long long state = row * p.Splits + split;
        if (lane == 0) {
            p.PartialMax[state] = row_max[i];
            p.PartialSum[state] = row_sum[i];
        }
        float* o_row = p.PartialO + state * d;
#pragma unroll
        for (int j = 0; j < kColumnsPerLane; ++j) {
            const int c = lane + 32 * j;
            if (c < d) {
                o_row[c] = acc[i][j];
            }
        }
    }
}
