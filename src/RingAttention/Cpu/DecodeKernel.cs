using System.Numerics.Tensors;
using RingAttention.Decode;
using RingAttention.Kernels;

namespace RingAttention.Cpu;

/// <summary>
/// The CPU split-KV decode kernel: partial attention of a few new query rows over one rank's KV cache shard.
/// Decode is memory-bound (each cached K/V row is used by only the few queries of one step), so the kernel reads
/// every K and V row once for all query heads of its GQA group and all new tokens: those rows form the M
/// dimension (flash-attention's swap of seqlen_q and the group when seqlen_q = 1). The cache is split into chunks
/// of <see cref="ChunkRows"/> rows that the worker pool takes in any order; each chunk keeps an fp32 online-softmax
/// state, and the chunks combine in chunk order, so the bits do not depend on the thread count or timing (MPI ranks
/// and emulated ranks agree exactly). Masks are by global position (causal: key position ≤ query position), which
/// is what lets the step's own tokens, already appended, attend causally to each other.
/// </summary>
internal sealed unsafe class DecodeKernel : IDecodeKernel
{
    /// <summary>Cache rows per work item: fixed (not derived from the thread count) so results are reproducible.</summary>
    public const int ChunkRows = 512;

    /// <summary>Rows widened and scored together: a tile of K and V stays in the L1 cache across the group's rows.</summary>
    private const int TileRows = 32;

    private readonly WorkerPool _pool;

    public DecodeKernel(int? threads)
    {
        Threads = threads ?? Environment.ProcessorCount;
        Guard.AtLeast(Threads, 1);
        _pool = new WorkerPool(Threads);
    }

    /// <summary>Threads the kernel runs on.</summary>
    public int Threads { get; }

    /// <summary>
    /// Computes this shard's normalised partial result. <paramref name="query"/> is fp32 [batch, T, heads, headDim]
    /// with global positions <paramref name="queryPositions"/> [T]; <paramref name="o"/> is fp32 [batch, T, heads,
    /// headDim] and <paramref name="lse"/> fp32 [batch, T, heads] (row for row with O, as the merge wants them). Rows that see no key get O = 0 and LSE = −inf.
    /// </summary>
    public void Run(AttentionOptions options, KvCacheShard cache, ReadOnlySpan<float> query, ReadOnlySpan<int> queryPositions, Span<float> o, Span<float> lse)
    {
        int tokens = queryPositions.Length, heads = options.Heads, d = options.HeadDim;
        int kvHeads = options.EffectiveKvHeads, group = heads / kvHeads, m = group * tokens;
        Guard.Length(query.Length, (long)options.Batch * tokens * heads * d, "batch × T × heads × headDim", nameof(query));
        Guard.Length(o.Length, (long)options.Batch * tokens * heads * d, "batch × T × heads × headDim", nameof(o));
        Guard.Length(lse.Length, (long)options.Batch * heads * tokens, "batch × T × heads", nameof(lse));
        int chunks = (cache.Length + ChunkRows - 1) / ChunkRows;
        int items = options.Batch * kvHeads * chunks;
        // Per work item: the M rows' running max, sum and unnormalised output.
        var max = new float[(long)items * m];
        var sum = new float[(long)items * m];
        var acc = new float[(long)items * m * d];
        var work = new Work(options, cache, query.ToArray(), queryPositions.ToArray(), chunks, max, sum, acc);
        int next = -1;
        _pool.Run(Math.Min(Threads, Math.Max(1, items)), () =>
        {
            var scratch = new Scratch(m, d, options.ElementType);
            int item;
            while ((item = Interlocked.Increment(ref next)) < items)
            {
                work.Chunk(item, scratch);
            }
        });
        Combine(options, tokens, chunks, max, sum, acc, o, lse);
    }

    /// <inheritdoc />
    public void Run(AttentionOptions options, KvCacheShard cache, ReadOnlySpan<float> query, ReadOnlySpan<int> queryPositions, BackendBuffer target, long byteOffset)
    {
        int rows = options.Batch * queryPositions.Length * options.Heads;
        Guard.That(byteOffset >= 0 && byteOffset + (long)rows * (options.HeadDim + 1) * sizeof(float) <= target.Bytes, nameof(byteOffset),
            $"room for {rows} rows of O and LSE inside the {target.Bytes}-byte buffer", byteOffset);
        float* o = (float*)((byte*)target.Address + byteOffset);
        Run(options, cache, query, queryPositions, new Span<float>(o, rows * options.HeadDim), new Span<float>(o + (long)rows * options.HeadDim, rows));
    }

    /// <summary>Merges the chunks of each (batch, kvHead) in chunk order and normalises.</summary>
    private static void Combine(AttentionOptions options, int tokens, int chunks, float[] max, float[] sum, float[] acc, Span<float> o, Span<float> lse)
    {
        int heads = options.Heads, d = options.HeadDim, kvHeads = options.EffectiveKvHeads, group = heads / kvHeads, m = group * tokens;
        float scale = options.EffectiveSoftmaxScale;
        var total = new float[d];
        for (int b = 0; b < options.Batch; b++)
        {
            for (int kvHead = 0; kvHead < kvHeads; kvHead++)
            {
                int first = (b * kvHeads + kvHead) * chunks;
                for (int row = 0; row < m; row++)
                {
                    int t = row / group, head = kvHead * group + row % group;
                    float rowMax = float.NegativeInfinity;
                    for (int c = 0; c < chunks; c++)
                    {
                        rowMax = MathF.Max(rowMax, max[(first + c) * m + row]);
                    }
                    var target = o.Slice(((b * tokens + t) * heads + head) * d, d);
                    ref float rowLse = ref lse[(b * tokens + t) * heads + head];
                    if (float.IsNegativeInfinity(rowMax))
                    {
                        target.Clear();
                        rowLse = float.NegativeInfinity;
                        continue;
                    }
                    total.AsSpan().Clear();
                    float rowSum = 0;
                    for (int c = 0; c < chunks; c++)
                    {
                        int state = (first + c) * m + row;
                        if (float.IsNegativeInfinity(max[state]))
                        {
                            continue;
                        }
                        float weight = MathF.Exp((max[state] - rowMax) * scale);
                        rowSum += sum[state] * weight;
                        TensorPrimitives.MultiplyAdd(acc.AsSpan(state * d, d), weight, total, total);
                    }
                    TensorPrimitives.Multiply(total, 1f / rowSum, target);
                    rowLse = rowMax * scale + MathF.Log(rowSum);
                }
            }
        }
    }

    public void Dispose() => _pool.Dispose();

    /// <summary>One worker's buffers: the widened K/V tile (16-bit storage) and the tile's scores.</summary>
    private sealed class Scratch(int m, int d, ElementType type)
    {
        public readonly float[] Keys = type == ElementType.Float32 ? [] : new float[TileRows * d];
        public readonly float[] Values = type == ElementType.Float32 ? [] : new float[TileRows * d];
        public readonly float[] Scores = new float[m * TileRows];
    }

    private sealed class Work(AttentionOptions options, KvCacheShard cache, float[] query, int[] positions, int chunks, float[] max, float[] sum, float[] acc)
    {
        private readonly int _d = options.HeadDim;
        private readonly int _heads = options.Heads;
        private readonly int _kvHeads = options.EffectiveKvHeads;
        private readonly int _group = options.Heads / options.EffectiveKvHeads;
        private readonly int _tokens = positions.Length;
        private readonly float _scale = options.EffectiveSoftmaxScale;
        private readonly bool _causal = options.Causal;
        private readonly ElementType _type = options.ElementType;

        /// <summary>Runs work item <paramref name="item"/>: one chunk of one (batch, kvHead), all M rows.</summary>
        public void Chunk(int item, Scratch scratch)
        {
            int m = _group * _tokens, d = _d;
            int chunk = item % chunks, kvHead = item / chunks % _kvHeads, batch = item / chunks / _kvHeads;
            var rowMax = max.AsSpan(item * m, m);
            var rowSum = sum.AsSpan(item * m, m);
            var rowAcc = acc.AsSpan(item * m * d, m * d);
            rowMax.Fill(float.NegativeInfinity);
            rowSum.Clear();
            rowAcc.Clear();
            int start = chunk * ChunkRows, end = Math.Min(cache.Length, start + ChunkRows);
            var keyPositions = cache.Positions;
            for (int tile = start; tile < end; tile += TileRows)
            {
                int count = Math.Min(TileRows, end - tile);
                var keys = Rows(cache.KeyRow(batch, kvHead, tile), count, scratch.Keys);
                var values = Rows(cache.ValueRow(batch, kvHead, tile), count, scratch.Values);
                for (int row = 0; row < m; row++)
                {
                    int t = row / _group, head = kvHead * _group + row % _group;
                    var q = new ReadOnlySpan<float>(query, ((batch * _tokens + t) * _heads + head) * d, d);
                    var scores = scratch.Scores.AsSpan(row * TileRows, count);
                    float tileMax = float.NegativeInfinity;
                    for (int j = 0; j < count; j++)
                    {
                        if (_causal && keyPositions[tile + j] > positions[t])
                        {
                            scores[j] = float.NegativeInfinity;
                            continue;
                        }
                        scores[j] = TensorPrimitives.Dot(q, keys.Slice(j * d, d));
                        // MathF.Max propagates NaN, as the forward kernel does.
                        tileMax = MathF.Max(tileMax, scores[j]);
                    }
                    if (float.IsNegativeInfinity(tileMax))
                    {
                        continue;
                    }
                    float newMax = MathF.Max(rowMax[row], tileMax);
                    // Scores stay in raw units; exp((s − max)·scale). A first tile (old max −inf) rescales by 0.
                    float rescale = float.IsNegativeInfinity(rowMax[row]) ? 0f : MathF.Exp((rowMax[row] - newMax) * _scale);
                    var target = rowAcc.Slice(row * d, d);
                    if (rescale != 1f)
                    {
                        TensorPrimitives.Multiply(target, rescale, target);
                    }
                    float tileSum = 0;
                    for (int j = 0; j < count; j++)
                    {
                        if (float.IsNegativeInfinity(scores[j]))
                        {
                            continue;
                        }
                        float weight = MathF.Exp((scores[j] - newMax) * _scale);
                        tileSum += weight;
                        TensorPrimitives.MultiplyAdd(values.Slice(j * d, d), weight, target, target);
                    }
                    rowSum[row] = rowSum[row] * rescale + tileSum;
                    rowMax[row] = newMax;
                }
            }
        }

        /// <summary>The tile's rows as fp32: in place for fp32 storage, widened into <paramref name="scratch"/> otherwise.</summary>
        private ReadOnlySpan<float> Rows(byte* rows, int count, float[] scratch)
        {
            if (_type == ElementType.Float32)
            {
                return new ReadOnlySpan<float>(rows, count * _d);
            }
            StorageConversion.Widen(_type, rows, scratch.AsSpan(0, count * _d));
            return scratch.AsSpan(0, count * _d);
        }
    }
}
