using System.Diagnostics;
using RingAttention.Cpu;
using RingAttention.Decode;

namespace RingAttention.Bench;

/// <summary>
/// Decoding by passing the cache around the ring, the way sequence parallelism without a merge does it: the rank that
/// owns the step's queries receives every other rank's whole shard, one hop at a time, and attends to each as it
/// arrives, merging the partials by LSE. In emulation a hop is a copy of the shard's bytes (<see cref="KvCacheShard"/>
/// CopyFrom); both the copies and the kernels are timed. Serial: copies plus kernels; overlapped: each hop's copy
/// hidden behind the previous shard's kernel (the best a double-buffered ring could do on these measured pieces).
/// </summary>
internal sealed class DecodeRingPass(AttentionOptions options, int? threads) : IDisposable
{
    private readonly DecodeKernel _kernel = new(threads);
    private KvCacheShard? _received;

    /// <summary>One step's timed pieces combined and the merged LSE [T, heads] (batch 1).</summary>
    public sealed record Result(double SerialSeconds, double OverlappedSeconds, float[] Lse);

    /// <summary>Attends <paramref name="query"/> (fp32 [1, T, heads, headDim]) to every shard, the first held locally, the rest received.</summary>
    public Result Step(KvCacheShard[] shards, float[] query, int[] positions)
    {
        int rows = positions.Length * options.Heads, d = options.HeadDim;
        var o = new float[rows * d];
        var lse = new float[rows];
        var blockO = new float[rows * d];
        var blockLse = new float[rows];
        _received ??= new KvCacheShard(options, shards.Max(s => s.Length), maxLength: null);
        double serial = 0, overlapped = 0, previousKernel = 0;
        for (int hop = 0; hop < shards.Length; hop++)
        {
            var held = shards[0];
            double copy = 0;
            if (hop > 0)
            {
                long start = Stopwatch.GetTimestamp();
                _received.CopyFrom(shards[hop]);
                copy = Stopwatch.GetElapsedTime(start).TotalSeconds;
                held = _received;
            }
            long kernelStart = Stopwatch.GetTimestamp();
            _kernel.Run(options, held, query, positions, hop == 0 ? o : blockO, hop == 0 ? lse : blockLse);
            if (hop > 0)
            {
                for (int row = 0; row < rows; row++)
                {
                    LseMerge.MergeRow(o.AsSpan(row * d, d), ref lse[row], blockO.AsSpan(row * d, d), blockLse[row]);
                }
            }
            double kernel = Stopwatch.GetElapsedTime(kernelStart).TotalSeconds;
            serial += copy + kernel;
            overlapped += Math.Max(copy, previousKernel) + (hop == shards.Length - 1 ? kernel : 0);
            previousKernel = kernel;
        }
        return new Result(serial, overlapped, lse);
    }

    public void Dispose()
    {
        _kernel.Dispose();
        _received?.Dispose();
    }
}
