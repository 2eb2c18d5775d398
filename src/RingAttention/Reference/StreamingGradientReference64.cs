using RingAttention.Inputs;
using RingAttention.Layouts;

namespace RingAttention.Reference;

/// <summary>
/// The backward's oracle for huge problems, streaming like <see cref="StreamingReference64"/> (no N×N memory, K/V read
/// in chunks), in float64 arithmetic. dO is read from a source as the Q-shaped tensor of that source.
/// <list type="bullet">
/// <item><see cref="QueryGradients"/>: dQ of sampled query rows, exact: the row's O and LSE are first computed in
/// float64 by <see cref="StreamingReference64"/>, then dQᵢ = scale · Σⱼ Pᵢⱼ (dOᵢ·Vⱼ − Dᵢ) Kⱼ with D = dOᵢ·Oᵢ.</item>
/// <item><see cref="AddKeyGradientPartials"/>: dK and dV of sampled key rows need Pᵢⱼ and Dᵢ of every query row i
/// that sees key j; exact float64 LSE for all rows would cost O(N²·D). So for the query rows it uses the forward's
/// stored fp32 LSE and stored O (D = dOᵢ·Oᵢ from the stored O) — the values the forward was verified to produce on
/// sampled rows — and float64 for everything else. Each rank adds the contributions of its own query rows; the sum
/// over ranks is the reference.</item>
/// </list>
/// </summary>
public static class StreamingGradientReference64
{
    private const int ChunkRows = 256;

    /// <summary>
    /// dQ [heads × headDim] in float64 for each (batch, position) in <paramref name="rows"/>: inputs from
    /// <paramref name="source"/>, dO from <paramref name="outputGrad"/>.
    /// </summary>
    public static double[][] QueryGradients(AttentionOptions options, ITensorSource source, ITensorSource outputGrad,
        IReadOnlyList<(int Batch, int Position)> rows, int threads)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(outputGrad);
        options.Validate();
        var forward = StreamingReference64.Compute(options, source, rows, threads);
        int h = options.Heads, hk = options.EffectiveKvHeads, d = options.HeadDim, group = h / hk;
        double scale = options.EffectiveSoftmaxScale;
        var results = new double[rows.Count][];
        Parallel.For(0, rows.Count, new ParallelOptions { MaxDegreeOfParallelism = threads }, index =>
        {
            var (batch, position) = rows[index];
            var query = new float[h * d];
            var grad = new float[h * d];
            source.ReadRow(QkvTensor.Q, batch, position, query);
            outputGrad.ReadRow(QkvTensor.Q, batch, position, grad);
            var row = forward[index];
            var dSum = new double[h];
            for (int head = 0; head < h; head++)
            {
                for (int c = 0; c < d; c++)
                {
                    dSum[head] += grad[head * d + c] * row.O[head * d + c];
                }
            }
            var dq = new double[h * d];
            var keys = new float[ChunkRows * hk * d];
            var values = new float[ChunkRows * hk * d];
            int visible = options.Causal ? position + 1 : source.SequenceLength;
            for (int chunkStart = 0; chunkStart < visible; chunkStart += ChunkRows)
            {
                int count = Math.Min(ChunkRows, visible - chunkStart);
                for (int j = 0; j < count; j++)
                {
                    source.ReadRow(QkvTensor.K, batch, chunkStart + j, keys.AsSpan(j * hk * d, hk * d));
                    source.ReadRow(QkvTensor.V, batch, chunkStart + j, values.AsSpan(j * hk * d, hk * d));
                }
                for (int head = 0; head < h; head++)
                {
                    if (double.IsNegativeInfinity(row.Lse[head]))
                    {
                        continue;
                    }
                    int kvHead = head / group;
                    for (int j = 0; j < count; j++)
                    {
                        int key = (j * hk + kvHead) * d;
                        double dot = 0, dp = 0;
                        for (int c = 0; c < d; c++)
                        {
                            dot += (double)query[head * d + c] * keys[key + c];
                            dp += (double)grad[head * d + c] * values[key + c];
                        }
                        double ds = Math.Exp(dot * scale - row.Lse[head]) * (dp - dSum[head]) * scale;
                        for (int c = 0; c < d; c++)
                        {
                            dq[head * d + c] += ds * keys[key + c];
                        }
                    }
                }
            }
            results[index] = dq;
        });
        return results;
    }

    /// <summary>
    /// Adds, for each sampled key row (batch, position) in <paramref name="keyRows"/>, the contributions of rank
    /// <paramref name="rank"/>'s query rows to dK and dV: <paramref name="partials"/> holds per key row [2, kvHeads,
    /// headDim] (dK then dV). <paramref name="storedO"/> [batch, local, heads, headDim] and <paramref name="storedLse"/>
    /// [batch, heads, local] are the rank's forward outputs (O widened to fp32).
    /// </summary>
    public static void AddKeyGradientPartials(AttentionOptions options, ITensorSource source, ITensorSource outputGrad, ISequenceLayout layout,
        int rank, ReadOnlySpan<float> storedO, ReadOnlySpan<float> storedLse, IReadOnlyList<(int Batch, int Position)> keyRows, double[] partials,
        int threads)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(layout);
        options.Validate();
        int h = options.Heads, hk = options.EffectiveKvHeads, d = options.HeadDim, group = h / hk;
        int local = layout.LocalLength(rank), samples = keyRows.Count, width = 2 * hk * d;
        Guard.Length(storedO.Length, (long)options.Batch * local * h * d, "batch × local × heads × headDim");
        Guard.Length(storedLse.Length, (long)options.Batch * h * local, "batch × heads × local");
        Guard.Length(partials.Length, (long)samples * width, "keyRows × 2 × kvHeads × headDim");
        if (local == 0 || samples == 0)
        {
            return;
        }
        double scale = options.EffectiveSoftmaxScale;
        var keys = new float[samples * hk * d];
        var values = new float[samples * hk * d];
        for (int s = 0; s < samples; s++)
        {
            source.ReadRow(QkvTensor.K, keyRows[s].Batch, keyRows[s].Position, keys.AsSpan(s * hk * d, hk * d));
            source.ReadRow(QkvTensor.V, keyRows[s].Batch, keyRows[s].Position, values.AsSpan(s * hk * d, hk * d));
        }
        var segments = layout.Segments(rank);
        var positions = new int[local];
        foreach (var segment in segments)
        {
            for (int i = 0; i < segment.Count; i++)
            {
                positions[segment.LocalStart + i] = segment.GlobalAt(i);
            }
        }
        var o = storedO.ToArray();
        var lse = storedLse.ToArray();
        // Each worker sums a contiguous range of rows into its own partials; the ranges are added in order.
        int workers = Math.Max(1, Math.Min(threads, options.Batch * local));
        var sums = new double[workers][];
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = threads }, worker =>
        {
            var sum = sums[worker] = new double[samples * width];
            var query = new float[h * d];
            var grad = new float[h * d];
            long total = (long)options.Batch * local;
            for (long item = total * worker / workers; item < total * (worker + 1) / workers; item++)
            {
                int b = (int)(item / local), row = (int)(item % local), position = positions[row];
                bool read = false;
                for (int s = 0; s < samples; s++)
                {
                    if (keyRows[s].Batch != b || (options.Causal && keyRows[s].Position > position))
                    {
                        continue;
                    }
                    if (!read)
                    {
                        source.ReadRow(QkvTensor.Q, b, position, query);
                        outputGrad.ReadRow(QkvTensor.Q, b, position, grad);
                        read = true;
                    }
                    for (int head = 0; head < h; head++)
                    {
                        double rowLse = lse[((long)b * h + head) * local + row];
                        if (double.IsNegativeInfinity(rowLse))
                        {
                            continue;
                        }
                        int kvHead = head / group, key = (s * hk + kvHead) * d;
                        long outputRow = (((long)b * local + row) * h + head) * d;
                        double dot = 0, dp = 0, dSum = 0;
                        for (int c = 0; c < d; c++)
                        {
                            dot += (double)query[head * d + c] * keys[key + c];
                            dp += (double)grad[head * d + c] * values[key + c];
                            dSum += (double)grad[head * d + c] * o[outputRow + c];
                        }
                        double p = Math.Exp(dot * scale - rowLse), ds = p * (dp - dSum) * scale;
                        int dkAt = s * width + kvHead * d, dvAt = s * width + hk * d + kvHead * d;
                        for (int c = 0; c < d; c++)
                        {
                            sum[dkAt + c] += ds * query[head * d + c];
                            sum[dvAt + c] += p * grad[head * d + c];
                        }
                    }
                }
            }
        });
        foreach (var sum in sums)
        {
            for (int i = 0; i < partials.Length; i++)
            {
                partials[i] += sum[i];
            }
        }
    }
}
