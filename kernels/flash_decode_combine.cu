// The split-KV decode combine (flash-attention's combine_attn_seqk_parallel): merges the fp32 partial states the
// decode kernel left per (row, split), in split order, into the rank's normalised partial: O fp32 and LSE (natural
// log). Weights are 2^(max_s - M) with M the largest split max (log2 units) and 0 in its place when every split saw
// nothing, so -inf - (-inf) never makes NaN; a row whose total is 0 saw no key: O = 0, LSE = -inf. A NaN sum
// (NaN in Q, K or V) propagates to O and LSE. One warp per row, 8 rows per block.
#include "flash_params.cuh"

extern "C" __global__ void __launch_bounds__(256) flash_decode_combine_kernel(const FlashDecodeParams p) {
    const long long row = (long long)blockIdx.x * blockDim.y + threadIdx.y;
    if (row >= (long long)p.Batch * p.SeqLenQ * p.Heads) {
        return;
    }
    const int lane = threadIdx.x, d = p.HeadDim;
    const long long first = row * p.Splits;
    float max = __int_as_float(0xff800000u);
    for (int s = 0; s < p.Splits; ++s) {
        max = fmaxf(max, p.PartialMax[first + s]);
    }
    const float base = max == __int_as_float(0xff800000u) ? 0.0f : max;
    float sum = 0.0f;
    for (int s = 0; s < p.Splits; ++s) {
        sum = fmaf(p.PartialSum[first + s], exp2f(p.PartialMax[first + s] - base), sum);
    }
    for (int c = lane; c < d; c += 32) {
        float o = 0.0f;
        for (int s = 0; s < p.Splits; ++s) {
            o = fmaf(p.PartialO[(first + s) * d + c], exp2f(p.PartialMax[first + s] - base), o);
        }
        p.O[row * d + c] = sum == 0.0f ? 0.0f : o / sum;
    }
    if (lane == 0) {
        p.Lse[row] = sum == 0.0f ? __int_as_float(0xff800000u) : (float)((double)max * 0.69314718055994530942 + log((double)sum));
    }
}
