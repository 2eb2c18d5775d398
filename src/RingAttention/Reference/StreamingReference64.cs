using RingAttention.Inputs;

namespace RingAttention.Reference;

/// <summary>One verified row: the float64 reference output of every head at (batch, global position).</summary>
/// <param name="Batch">Batch index.</param>
/// <param name="Position">Global position of the query.</param>
/// <param name="O">[heads, headDim] in float64.</param>
/// <param name="Lse">[heads] in float64, natural log.</param>
public sealed record ReferenceRow(int Batch, int Position, double[] O, double[] Lse);

/// <summary>
/// The oracle for huge problems: float64 attention for a few sampled query rows, streaming over the keys with an
/// online softmax, reading K and V from the source chunk by chunk, so a million-token sequence needs no N×N
/// (or even N×D) memory. Work is spread over the sampled rows and key chunks' heads in parallel.
/// </summary>
public static class StreamingReference64
{
    private const int ChunkRows = 256;

    /// <summary>Computes the reference for each (batch, position) in <paramref name="rows"/>.</summary>
    public static ReferenceRow[] Compute(AttentionOptions options, ITensorSource source, IReadOnlyList<(int Batch, int Position)> rows, int threads)
    {
        options.Validate();
        int h = options.Heads, hk = options.EffectiveKvHeads, d = options.HeadDim, group = h / hk;
        double scale = options.EffectiveSoftmaxScale;
        var results = new ReferenceRow[rows.Count];
        Parallel.For(0, rows.Count, new ParallelOptions { MaxDegreeOfParallelism = threads }, index =>
        {
            var (batch, position) = rows[index];
            var query = new float[h * d];
            source.ReadRow(QkvTensor.Q, batch, position, query);
            var max = new double[h];
            var sum = new double[h];
            var acc = new double[h * d];
            Array.Fill(max, double.NegativeInfinity);
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
                    int kvHead = head / group;
                    for (int j = 0; j < count; j++)
                    {
                        double dot = 0;
                        for (int c = 0; c < d; c++)
                        {
                            dot += (double)query[head * d + c] * keys[(j * hk + kvHead) * d + c];
                        }
                        double score = dot * scale;
                        if (score > max[head])
                        {
                            double rescale = Math.Exp(max[head] - score);
                            sum[head] *= rescale;
                            for (int c = 0; c < d; c++)
                            {
                                acc[head * d + c] *= rescale;
                            }
                            max[head] = score;
                        }
                        double weight = Math.Exp(score - max[head]);
                        sum[head] += weight;
                        for (int c = 0; c < d; c++)
                        {
                            acc[head * d + c] += weight * values[(j * hk + kvHead) * d + c];
                        }
                    }
                }
            }
            var lse = new double[h];
            for (int head = 0; head < h; head++)
            {
                for (int c = 0; c < d; c++)
                {
                    acc[head * d + c] /= sum[head];
                }
                lse[head] = max[head] + Math.Log(sum[head]);
            }
            results[index] = new ReferenceRow(batch, position, acc, lse);
        });
        return results;
    }
}
