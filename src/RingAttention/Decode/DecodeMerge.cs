using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using RingAttention.Ring;

namespace RingAttention.Decode;

/// <summary>
/// Merges the ranks' partial decode results (O_r, LSE_r) into the result over the whole cache, on every rank.
/// <para>
/// Scheme: one all-reduce (sum) in which each rank writes its partial into its own slot of a P-slot buffer and zeros
/// elsewhere, so the sum is an all-gather (x + 0 is exact); then every rank merges the P partials itself, in rank
/// order: M = max_r LSE_r, O = Σ_r exp(LSE_r − M)·O_r / Σ_r exp(LSE_r − M), LSE = M + ln Σ_r exp(LSE_r − M).
/// </para>
/// <para>
/// Why not Tree Attention's all-reduce of the max, then of the rescaled pair (O·exp(LSE−M), exp(LSE−M))? A float sum
/// all-reduce adds in an order the MPI library chooses (by message size, P and algorithm), so MPI and emulation, or
/// Open MPI and MPICH, would differ in the last bits; the gather-by-sum gives the same bits on every transport and
/// rank, and it is one collective latency instead of two. It moves P times the bytes, but a decode step's partials
/// are small (B·H·T·(D+1) floats, a few KiB), so the latency, not the volume, is what counts.
/// </para>
/// A rank with an empty shard contributes LSE = −inf (the identity); rows that saw no key anywhere get O = 0 and
/// LSE = −inf; NaN on any rank propagates to the merged row.
/// </summary>
internal sealed unsafe class DecodeMerge : IDisposable
{
    private readonly int _ranks;
    private readonly int _rank;
    private float* _buffer;
    private long _capacity;

    public DecodeMerge(int rank, int ranks)
    {
        (_rank, _ranks) = (rank, ranks);
    }

    /// <summary>
    /// Posts the all-reduce of this rank's partial: <paramref name="o"/> [rows × headDim] and <paramref name="lse"/>
    /// [rows], in any row order as long as every rank uses the same.
    /// </summary>
    public IPendingExchange Post(IRingCollectives collectives, ReadOnlySpan<float> o, ReadOnlySpan<float> lse)
    {
        long slot = o.Length + (long)lse.Length;
        Ensure(slot * _ranks);
        var all = new Span<float>(_buffer, checked((int)(slot * _ranks)));
        all.Clear();
        o.CopyTo(all.Slice((int)(_rank * slot)));
        lse.CopyTo(all.Slice((int)(_rank * slot + o.Length)));
        return collectives.PostAllReduce((nint)_buffer, slot * _ranks, ReduceOperation.Sum);
    }

    /// <summary>After the posted all-reduce completed: the merged O and LSE (same shapes as the partial).</summary>
    public void Finish(Span<float> o, Span<float> lse)
    {
        int rows = lse.Length, d = rows == 0 ? 0 : o.Length / rows;
        long slot = o.Length + (long)lse.Length;
        var all = new ReadOnlySpan<float>(_buffer, checked((int)(slot * _ranks)));
        for (int row = 0; row < rows; row++)
        {
            float max = float.NegativeInfinity;
            for (int r = 0; r < _ranks; r++)
            {
                max = MathF.Max(max, all[(int)(r * slot + o.Length + row)]);
            }
            var target = o.Slice(row * d, d);
            target.Clear();
            if (float.IsNegativeInfinity(max))
            {
                lse[row] = float.NegativeInfinity;
                continue;
            }
            float sum = 0;
            for (int r = 0; r < _ranks; r++)
            {
                float partialLse = all[(int)(r * slot + o.Length + row)];
                if (float.IsNegativeInfinity(partialLse))
                {
                    continue;
                }
                float weight = MathF.Exp(partialLse - max);
                sum += weight;
                TensorPrimitives.MultiplyAdd(all.Slice((int)(r * slot + row * d), d), weight, target, target);
            }
            TensorPrimitives.Multiply(target, 1f / sum, target);
            lse[row] = max + MathF.Log(sum);
        }
    }

    private void Ensure(long floats)
    {
        if (floats <= _capacity)
        {
            return;
        }
        NativeMemory.AlignedFree(_buffer);
        _buffer = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
        _capacity = floats;
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(_buffer);
        _buffer = null;
        _capacity = 0;
    }
}
