// The finalize step (CpuBackend.Finalize's twin): O = OAccum / RowSum in the storage type and
// LSE = RowMax·ln 2 + ln RowSum (computed in double, as on the CPU); a row with RowSum = 0 saw no key: O = 0 and
// LSE = -inf. One warp per (batch, row, head); O may alias OAccum when the storage type is fp32 (each element is
// read and written by the same thread).
#include "flash_params.cuh"
#include "convert.cuh"

extern "C" __global__ void __launch_bounds__(256) flash_finalize_kernel(const FlashFinalizeParams p) {
    const long long item = (long long)blockIdx.x * blockDim.y + threadIdx.y;
    const long long rows = (long long)p.Batch * p.SeqLenQ * p.Heads;
    if (item >= rows) {
        return;
    }
    // item = (batch · SeqLenQ + row) · Heads + head: the element order of O.
    const int head = (int)(item % p.Heads);
    const long long batch_row = item / p.Heads;
    const int row = (int)(batch_row % p.SeqLenQ);
    const int batch = (int)(batch_row / p.SeqLenQ);
    const long long stat = ((long long)batch * p.Heads + head) * p.SeqLenQ + row;
    const long long element = item * p.HeadDim;
    const float sum = p.RowSum[stat];
    for (int c = threadIdx.x; c < p.HeadDim; c += 32) {
        ra_store_element(p.O, element + c, p.ElementType, sum == 0.0f ? 0.0f : p.OAccum[element + c] / sum);
    }
    if (threadIdx.x == 0) {
        p.Lse[stat] = sum == 0.0f ? __int_as_float(0xff800000u)
                                  : (float)((double)p.RowMax[stat] * 0.69314718055994530942 + log((double)sum));
    }
}
