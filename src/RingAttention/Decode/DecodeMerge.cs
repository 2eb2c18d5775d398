using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using RingAttention.Kernels;
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
/// <para>
/// The P-slot buffer lives in the backend's memory (the transport's: host for the in-process ring and MPI, device
/// for the GPU rings and NCCL), so a GPU's decode kernel writes its partial straight into its slot and the
/// all-reduce runs where the data is; only the reduced buffer comes back to the host for the combine.
/// </para>
/// </summary>
internal sealed class DecodeMerge : IDisposable
{
    private readonly int _ranks;
    private readonly int _rank;
    private readonly IAttentionBackend _backend;
    private BackendBuffer? _buffer;
    private long _slot;
    private float[] _all = [];

    public DecodeMerge(int rank, int ranks, IAttentionBackend backend)
    {
        (_rank, _ranks, _backend) = (rank, ranks, backend);
    }

    /// <summary>
    /// Readies the P-slot buffer for <paramref name="rows"/> partial rows of <paramref name="headDim"/> values, all
    /// zero, and says where this rank's slot begins: the decode kernel writes O [rows × headDim] there, then LSE [rows].
    /// </summary>
    public (BackendBuffer Buffer, long ByteOffset) Prepare(int rows, int headDim)
    {
        _slot = (long)rows * (headDim + 1);
        long floats = _slot * _ranks;
        if (_buffer is null || _buffer.Bytes < floats * sizeof(float))
        {
            _buffer?.Dispose();
            _buffer = null;
            _buffer = _backend.Allocate(floats * sizeof(float));
        }
        _backend.Fill(_buffer, 0, floats, 0f);
        return (_buffer, _rank * _slot * sizeof(float));
    }

    /// <summary>Posts the all-reduce (sum) of the prepared buffer, once this rank's partial is in its slot.</summary>
    public IPendingExchange Post(IRingCollectives collectives)
    {
        var buffer = _buffer ?? throw new InvalidOperationException("Prepare the merge before posting it");
        return collectives.PostAllReduce(buffer.Address, _slot * _ranks, ReduceOperation.Sum);
    }

    /// <summary>After the posted all-reduce completed: the merged O and LSE (same shapes as the partial).</summary>
    public void Finish(Span<float> o, Span<float> lse)
    {
        var buffer = _buffer ?? throw new InvalidOperationException("Prepare the merge before finishing it");
        int rows = lse.Length, d = rows == 0 ? 0 : o.Length / rows;
        long slot = o.Length + (long)lse.Length;
        Guard.That(slot == _slot, nameof(o), $"the prepared {_slot} values per rank", slot);
        int total = checked((int)(slot * _ranks));
        if (_all.Length < total)
        {
            _all = new float[total];
        }
        _backend.Download(buffer, 0, MemoryMarshal.AsBytes(_all.AsSpan(0, total)));
        var all = new ReadOnlySpan<float>(_all, 0, total);
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

    public void Dispose()
    {
        _buffer?.Dispose();
        _buffer = null;
    }
}
