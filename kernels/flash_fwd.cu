// FlashAttention-2 forward block kernel on tensor cores (mma.sync m16n8k16, fp32 accumulation), the GPU twin of
// CpuFlashKernel in src/RingAttention/Cpu: one thread block per (query tile, head, batch) streams over the K/V
// tiles its rows can see, S = Q·Kᵀ, mask only where a tile crosses the diagonal or the ragged end, online softmax
// in log2 units, O += P·V. It continues the ring's running fp32 state (OAccum, RowMax, RowSum) instead of
// writing a partial to merge. No toolkit headers: 16-bit operands are raw 32-bit words, converted with PTX.
//
// Pipeline (one buffer each for K and V, as in FlashAttention-2): the load of V(j) overlaps S = Q·K(j)ᵀ, and the
// load of K(j+1) is issued as soon as every warp is done reading K(j), so it overlaps the softmax and P·V of tile j:
//   wait K(j); sync; issue V(j); S = Q·K(j)ᵀ; mask; wait V(j); sync; issue K(j+1); softmax; O += P·V(j).
// Variants without the registers for it (Traits::kNextKBeforeSoftmax) issue K(j+1) after the softmax instead.
// One group is in flight at each wait, so wait_group 0 is the exact count.
#include "kernel_traits.cuh"
#include "block_info.cuh"
#include "fragments.cuh"
#include "mask.cuh"
#include "softmax.cuh"
#include "ptx.cuh"

using Traits = KernelTraits;
using namespace fragments;

namespace {

// Copies kRows rows (row stride in elements) into a swizzled shared tile; rows >= valid_rows and chunks past
// head_dim (a multiple of 8) are zero-filled, so they add nothing to S and nothing to O.
// Offsets inside a tile are 32-bit: the host checks that kBlockM rows of any stride stay below 2^31 elements.
template <int kRows>
__device__ __forceinline__ void load_tile(unsigned tile, const unsigned short* rows, int row_stride, int valid_rows,
                                          int head_dim, int thread) {
    constexpr int kChunks = kRows * Traits::kChunksPerRow;
    static_assert(kChunks % Traits::kThreads == 0, "every thread copies the same number of chunks");
#pragma unroll
    for (int index = thread; index < kChunks; index += Traits::kThreads) {
        int row = index / Traits::kChunksPerRow;
        int chunk = index % Traits::kChunksPerRow;
        bool valid = row < valid_rows && chunk * 8 < head_dim;
        const unsigned short* source = valid ? rows + row * row_stride + chunk * 8 : rows;
        ra_cp_async_16(tile + tile_chunk_offset(row, chunk), source, valid);
    }
}

// d += a·b for one m16n8k16 tile in the storage type.
__device__ __forceinline__ void mma_16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
#if RA_ELEMENT_TYPE == RA_BFLOAT16
    ra_mma_m16n8k16_bf16(d, a, b0, b1);
#else
    ra_mma_m16n8k16_f16(d, a, b0, b1);
#endif
}

// Two fp32 values as one 32-bit word of the storage type, the lower column in the lower half.
__device__ __forceinline__ unsigned pack_pair(float low, float high) {
#if RA_ELEMENT_TYPE == RA_BFLOAT16
    return ra_pack_bf16x2(low, high);
#else
    return ra_pack_f16x2(low, high);
#endif
}

}  // namespace

extern "C" __global__ void __launch_bounds__(Traits::kThreads) flash_fwd_kernel(const FlashFwdParams p) {
    constexpr int kBlockM = Traits::kBlockM, kBlockN = Traits::kBlockN, kMTiles = Traits::kMTiles;
    constexpr int kNBlocks = Traits::kNBlocks, kDBlocks = Traits::kDBlocks;
    RA_DYNAMIC_SHARED(unsigned char, shared, 128);

    const int thread = threadIdx.x, lane = thread & 31, warp = thread >> 5;
    // Later query tiles see more keys under the causal mask: they are launched first.
    const int query_tile = (int)(gridDim.x - 1 - blockIdx.x);
    const int head = blockIdx.y, batch = blockIdx.z;
    const int first_row = query_tile * kBlockM;
    const int rows = min(kBlockM, p.SeqLenQ - first_row);
    const int keys_seen = visible_keys(p, first_row + rows - 1, Traits::kIsCausal);
    if (keys_seen == 0) {
        return;  // the running state of these rows stays as it is
    }
    const int keys_seen_by_all = visible_keys(p, first_row, Traits::kIsCausal);
    const int key_tiles = (keys_seen + kBlockN - 1) / kBlockN;
    const int kv_head = head / (p.Heads / p.KvHeads);

    const unsigned short* q = static_cast<const unsigned short*>(p.Q) + batch * p.QBatchStride + head * p.QHeadStride +
                              first_row * p.QRowStride;
    const unsigned short* k = static_cast<const unsigned short*>(p.K) + batch * p.KBatchStride + kv_head * p.KHeadStride;
    const unsigned short* v = static_cast<const unsigned short*>(p.V) + batch * p.VBatchStride + kv_head * p.VHeadStride;
    const unsigned q_tile = ra_shared_address(shared);
    const unsigned k_tile = q_tile + Traits::kQBytes;
    const unsigned v_tile = k_tile + Traits::kKBytes;

    load_tile<kBlockM>(q_tile, q, (int)p.QRowStride, rows, p.HeadDim, thread);
    load_tile<kBlockN>(k_tile, k, (int)p.KRowStride, p.SeqLenK, p.HeadDim, thread);
    ra_cp_async_commit();

    // This thread's rows: m-tile i, half h -> local row warp_row0 + 16i + accumulator_row(lane, 2h) (fragments.cuh).
    const int warp_row0 = warp * kMTiles * 16;
    const unsigned q_fragment_base = q_tile + q_fragment_row(lane, warp);
    const unsigned k_fragment_base = k_tile + k_fragment_row(lane);
    const unsigned v_fragment_base = v_tile + v_fragment_row(lane);
    float acc_o[kMTiles][kDBlocks][4];
    float row_max[kMTiles][2], row_sum[kMTiles][2];
#pragma unroll
    for (int i = 0; i < kMTiles; ++i) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int r = warp_row0 + i * 16 + accumulator_row(lane, 2 * h);
            const bool live = r < rows;
            const long long stat = batch * p.StatBatchStride + head * p.StatHeadStride + first_row + r;
            row_max[i][h] = live ? p.RowMax[stat] : RA_NEG_INF;
            // The quad's four shares of the running sum add up to the row's sum: the incoming sum is its first lane's.
            row_sum[i][h] = live && (lane & 3) == 0 ? p.RowSum[stat] : 0.0f;
            const float* o_row = p.OAccum + batch * p.OBatchStride + (first_row + r) * p.ORowStride + head * p.OHeadStride;
#pragma unroll
            for (int d = 0; d < kDBlocks; ++d) {
                const int column = d * 8 + accumulator_column(lane, 0);
                float2 value = make_float2(0.0f, 0.0f);
                if (live && column < p.HeadDim) {
                    value = *reinterpret_cast<const float2*>(o_row + column);
                }
                acc_o[i][d][2 * h] = value.x;
                acc_o[i][d][2 * h + 1] = value.y;
            }
        }
    }

    for (int tile = 0; tile < key_tiles; ++tile) {
        const int first_key = tile * kBlockN;
        ra_cp_async_wait_all();
        __syncthreads();  // K(tile) has landed; every warp is done reading V(tile - 1)
        load_tile<kBlockN>(v_tile, v + first_key * p.VRowStride, (int)p.VRowStride, p.SeqLenK - first_key, p.HeadDim, thread);
        ra_cp_async_commit();

        float s[kMTiles][kNBlocks][4];
#pragma unroll
        for (int i = 0; i < kMTiles; ++i) {
#pragma unroll
            for (int n = 0; n < kNBlocks; ++n) {
                s[i][n][0] = s[i][n][1] = s[i][n][2] = s[i][n][3] = 0.0f;
            }
        }
#pragma unroll
        for (int kk = 0; kk < Traits::kKSteps; ++kk) {
            unsigned a[kMTiles][4];
#pragma unroll
            for (int i = 0; i < kMTiles; ++i) {
                ra_ldmatrix_x4(a[i], q_fragment_address(q_fragment_base, lane, i, kk));
            }
#pragma unroll
            for (int n = 0; n < kNBlocks; n += 2) {
                unsigned b[4];
                ra_ldmatrix_x4(b, k_fragment_address(k_fragment_base, lane, n, kk));
#pragma unroll
                for (int i = 0; i < kMTiles; ++i) {
                    mma_16816(s[i][n], a[i], b[0], b[1]);
                    mma_16816(s[i][n + 1], a[i], b[2], b[3]);
                }
            }
        }
        if (first_key + kBlockN > keys_seen_by_all) {
            // Rows past the end take the last row's position, as in the CPU kernel (their results are not stored).
            int query_position[kMTiles][2];
#pragma unroll
            for (int i = 0; i < kMTiles; ++i) {
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    query_position[i][h] = ra_position(p.QPosStart, first_row + min(warp_row0 + i * 16 + accumulator_row(lane, 2 * h), rows - 1), p.QPosStride);
                }
            }
            apply_mask<kMTiles, kNBlocks, Traits::kIsCausal>(s, query_position, p, first_key, lane);
        }
        if constexpr (!Traits::kNextKBeforeSoftmax) {
            softmax_update<kMTiles, kNBlocks, kDBlocks>(s, row_max, row_sum, acc_o, p.ScaleSoftmaxLog2);
        }

        ra_cp_async_wait_all();
        __syncthreads();  // V(tile) has landed; every warp is done reading K(tile)
        if (tile + 1 < key_tiles) {
            const int next_key = first_key + kBlockN;
            load_tile<kBlockN>(k_tile, k + next_key * p.KRowStride, (int)p.KRowStride, p.SeqLenK - next_key, p.HeadDim, thread);
            ra_cp_async_commit();
        }
        if constexpr (Traits::kNextKBeforeSoftmax) {
            softmax_update<kMTiles, kNBlocks, kDBlocks>(s, row_max, row_sum, acc_o, p.ScaleSoftmaxLog2);
        }

        // P·V: the score accumulators become the A operand without shuffles (REFERENCE.md).
#pragma unroll
        for (int ks = 0; ks < Traits::kKeySteps; ++ks) {
            unsigned a[kMTiles][4];
#pragma unroll
            for (int i = 0; i < kMTiles; ++i) {
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const float (&block)[4] = s[i][probability_block(ks, r)];
                    a[i][r] = pack_pair(block[probability_element(r)], block[probability_element(r) + 1]);
                }
            }
#pragma unroll
            for (int d = 0; d < kDBlocks; d += 2) {
                unsigned b[4];
                ra_ldmatrix_x4_trans(b, v_fragment_address(v_fragment_base, lane, ks, d));
#pragma unroll
                for (int i = 0; i < kMTiles; ++i) {
                    mma_16816(acc_o[i][d], a[i], b[0], b[1]);
                    mma_16816(acc_o[i][d + 1], a[i], b[2], b[3]);
                }
            }
        }
    }

    // Store the continued state; the quad's shares of each row sum are added first (every lane shuffles).
#pragma unroll
    for (int i = 0; i < kMTiles; ++i) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const float sum = ra_quad_sum(row_sum[i][h]);
            const int r = warp_row0 + i * 16 + accumulator_row(lane, 2 * h);
            if (r >= rows) {
                continue;
            }
            const long long stat = batch * p.StatBatchStride + head * p.StatHeadStride + first_row + r;
            if ((lane & 3) == 0) {
                p.RowMax[stat] = row_max[i][h];
                p.RowSum[stat] = sum;
            }
            float* o_row = p.OAccum + batch * p.OBatchStride + (first_row + r) * p.ORowStride + head * p.OHeadStride;
#pragma unroll
            for (int d = 0; d < kDBlocks; ++d) {
                const int column = d * 8 + accumulator_column(lane, 0);
                if (column < p.HeadDim) {
                    *reinterpret_cast<float2*>(o_row + column) = make_float2(acc_o[i][d][2 * h], acc_o[i][d][2 * h + 1]);
                }
            }
        }
    }
}
