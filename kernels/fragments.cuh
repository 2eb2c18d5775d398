// Where the tensor-core kernel's operands live: the swizzled shared-memory tiles cp.async writes, the row addresses
// each lane hands to ldmatrix, and which score/output element each lane holds in the mma.m16n8k16 accumulators.
// Everything here is constexpr integer arithmetic without device intrinsics, so a test (KernelIndexingTests) folds
// it with NVRTC for every tile shape and checks it against the PTX ISA's ldmatrix and mma fragment layouts.
#pragma once
#include "kernel_traits.cuh"

namespace fragments {

using Traits = KernelTraits;
constexpr unsigned kRowBytes = Traits::kChunksPerRow * 16;

// Byte offset of 16-byte chunk `chunk` (8 elements) of row `row` in a swizzled [rows][kHeadDim] tile: chunk c of
// row r lives at c ^ (r % 8) within its group of 8, so the 8 rows an ldmatrix phase reads (same logical chunk)
// hit 8 different bank groups.
__host__ __device__ constexpr unsigned tile_chunk_offset(int row, int chunk) {
    return (unsigned)(row * Traits::kChunksPerRow + (chunk ^ (row & 7))) * 16u;
}

// Byte offset, inside its row, of chunk even_chunk + odd of a row with swizzle key `key` (row % 8). even_chunk is
// a compile-time even number and odd is 0 or 1, so the group part folds into an immediate and the rest is one
// LOP3: the fragment loads need a handful of base registers instead of one hoisted address per (k-step, block).
__host__ __device__ constexpr unsigned chunk_offset(int even_chunk, int odd, int key) {
    return (unsigned)((even_chunk & ~7) << 4) + (unsigned)((((even_chunk & 7) | odd) ^ key) << 4);
}

// ldmatrix.x4 row addresses (lane 8m + j gives row j of matrix m): a row address that depends only on the lane and
// warp (the kernel keeps it, tile base included, in one base register per operand) plus, per load, an immediate and
// the chunk_offset LOP3 (added in that order, which keeps the fragment loads at a handful of live registers). Every
// fragment row is lane % 8 modulo 8, so all three operands share the swizzle key lane & 7.
// Q, the A operand of S = Q·Kᵀ (m-tile m_tile of the warp, k-step k_step): matrices (rows 0-7, 8-15) × (head dims
// +0, +8).
__host__ __device__ constexpr unsigned q_fragment_row(int lane, int warp) {
    return (unsigned)(warp * Traits::kMTiles * 16 + (lane & 15)) * kRowBytes;
}
__host__ __device__ constexpr unsigned q_fragment_address(unsigned row_address, int lane, int m_tile, int k_step) {
    return row_address + (unsigned)(m_tile * 16) * kRowBytes + chunk_offset(2 * k_step, lane >> 4, lane & 7);
}

// K stored [key][head dim] is already the column-major B operand: matrices (keys of n-block n_block, head dims +0),
// (same keys, +8), (n-block n_block + 1, +0), (n_block + 1, +8); n_block is even.
__host__ __device__ constexpr unsigned k_fragment_row(int lane) { return (unsigned)((lane & 7) + ((lane >> 4) << 3)) * kRowBytes; }
__host__ __device__ constexpr unsigned k_fragment_address(unsigned row_address, int lane, int n_block, int k_step) {
    return row_address + (unsigned)(n_block * 8) * kRowBytes + chunk_offset(2 * k_step, (lane >> 3) & 1, lane & 7);
}

// V stored [key][head dim], loaded with .trans as the B operand of O += P·V: matrices (keys 0-7 of key step
// key_step, head dims of d-block d_block), (keys 8-15, d_block), (keys 0-7, d_block + 1), (keys 8-15, d_block + 1);
// d_block is even.
__host__ __device__ constexpr unsigned v_fragment_row(int lane) { return (unsigned)(lane & 15) * kRowBytes; }
__host__ __device__ constexpr unsigned v_fragment_address(unsigned row_address, int lane, int key_step, int d_block) {
    return row_address + (unsigned)(key_step * 16) * kRowBytes + chunk_offset(d_block, lane >> 4, lane & 7);
}

// Element e (0..3) of a lane's m16n8 accumulator fragment: row g + 8·(e / 2), column 2t + e % 2 (g = lane / 4,
// t = lane % 4). Scores: the column is the key within the 8-key n-block; output: the head dim within the d-block.
__host__ __device__ constexpr int accumulator_row(int lane, int element) { return (lane >> 2) + 8 * (element >> 1); }
__host__ __device__ constexpr int accumulator_column(int lane, int element) { return 2 * (lane & 3) + (element & 1); }

// P·V takes the probabilities straight from the score accumulators as its A operand, without shuffles: register r
// of the A fragment of key step ks packs elements probability_element(r) and probability_element(r) + 1 (lower
// column in the lower half) of n-block probability_block(ks, r).
__host__ __device__ constexpr int probability_block(int key_step, int reg) { return 2 * key_step + (reg >> 1); }
__host__ __device__ constexpr int probability_element(int reg) { return 2 * (reg & 1); }

}  // namespace fragments
