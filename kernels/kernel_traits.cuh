// Compile-time shape of the tensor-core forward kernel. The host (KernelVariant in src/RingAttention.Cuda) passes
// these as NVRTC -D defines, which are also part of the compiled-kernel cache key:
//   RA_HEAD_DIM      head dimension the kernel is built for (64, 128, 192 or 256); smaller run-time head dims
//                    (multiples of 8) use the next size up, with zero-filled loads and bounds-checked stores
//   RA_BLOCK_M       query rows per thread block
//   RA_BLOCK_N       key rows per K/V tile
//   RA_WARPS         warps per thread block; each owns RA_BLOCK_M / RA_WARPS consecutive query rows
//   RA_CAUSAL        1: the causal mask by global position; 0: every key visible (only the ragged end masked)
//   RA_ELEMENT_TYPE  storage type of Q, K and V: 1 fp16, 2 bf16 (flash_params.cuh)
#pragma once
#include "flash_params.cuh"

#if !defined(RA_HEAD_DIM) || !defined(RA_BLOCK_M) || !defined(RA_BLOCK_N) || !defined(RA_WARPS) || \
    !defined(RA_CAUSAL) || !defined(RA_ELEMENT_TYPE)
#error "kernel_traits.cuh needs RA_HEAD_DIM, RA_BLOCK_M, RA_BLOCK_N, RA_WARPS, RA_CAUSAL and RA_ELEMENT_TYPE"
#endif

struct KernelTraits {
    static constexpr int kHeadDim = RA_HEAD_DIM;
    static constexpr int kBlockM = RA_BLOCK_M;
    static constexpr int kBlockN = RA_BLOCK_N;
    static constexpr int kWarps = RA_WARPS;
    static constexpr int kThreads = kWarps * 32;
    static constexpr bool kIsCausal = RA_CAUSAL != 0;
    static constexpr bool kIsBf16 = RA_ELEMENT_TYPE == RA_BFLOAT16;

    // Rows per warp in 16-row m-tiles of mma.m16n8k16.
    static constexpr int kMTiles = kBlockM / (16 * kWarps);
    // 8-wide column blocks of the score tile (keys) and of the output (head dim).
    static constexpr int kNBlocks = kBlockN / 8;
    static constexpr int kDBlocks = kHeadDim / 8;
    // 16-deep k-steps of Q·Kᵀ (over the head dim) and of P·V (over the keys).
    static constexpr int kKSteps = kHeadDim / 16;
    static constexpr int kKeySteps = kBlockN / 16;
    // The next K tile's cp.async is issued before the softmax (FlashAttention-2's order) unless the score and output
    // accumulators take 192 registers per thread or more (head dim 128 with 128×64 tiles): there the load issued
    // beside 64 fp32 scores spills (40 B on sm_80, 4 B on sm_90), so it waits until after the softmax.
    static constexpr int kAccumulatorRegisters = kMTiles * (kNBlocks + kDBlocks) * 4;
    static constexpr bool kNextKBeforeSoftmax = kAccumulatorRegisters < 192;

    // Shared memory rows are 16-byte chunks of 8 elements; chunk c of row r lives at c ^ (r % 8) within its
    // group of 8, so the 8 rows an ldmatrix phase reads (same logical chunk) hit 8 different bank groups.
    static constexpr int kChunksPerRow = kHeadDim / 8;
    static constexpr int kQBytes = kBlockM * kHeadDim * 2;
    static constexpr int kKBytes = kBlockN * kHeadDim * 2;
    static constexpr int kVBytes = kBlockN * kHeadDim * 2;
    static constexpr int kSharedBytes = kQBytes + kKBytes + kVBytes;

    static_assert(RA_ELEMENT_TYPE == RA_FLOAT16 || RA_ELEMENT_TYPE == RA_BFLOAT16, "tensor cores take fp16 or bf16");
    static_assert(kHeadDim % 64 == 0 && kHeadDim <= 256, "head dim: a multiple of 64 up to 256 (swizzle groups of 8 chunks)");
    static_assert(kBlockM % (16 * kWarps) == 0 && kMTiles >= 1, "each warp owns whole 16-row m-tiles");
    static_assert(kBlockN % 16 == 0, "key tiles are whole 16-key k-steps of P·V");
};
