namespace RingAttention.Reference;

/// <summary>
/// The oracle: attention in float64 with the whole score row materialised, for problems small enough to hold
/// N×N per head. Tensors are full-sequence [batch, N, heads, headDim]; LSE is [batch, heads, N], natural log.
/// Query i sees key j when j ≤ i (causal) or always.
/// </summary>
public static class NaiveAttention64
{
    /// <summary>Computes O and LSE for full-sequence inputs.</summary>
    public static (double[] O, double[] Lse) Forward(AttentionOptions options, int sequenceLength, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v)
    {
        options.Validate();
        int n = sequenceLength, h = options.Heads, hk = options.EffectiveKvHeads, d = options.HeadDim, group = h / hk;
        Guard.Length(q.Length, (long)options.Batch * n * h * d, "batch × N × heads × headDim");
        Guard.Length(k.Length, (long)options.Batch * n * hk * d, "batch × N × kvHeads × headDim");
        Guard.Length(v.Length, (long)options.Batch * n * hk * d, "batch × N × kvHeads × headDim");
        double scale = options.EffectiveSoftmaxScale;
        var o = new double[q.Length];
        var lse = new double[options.Batch * h * n];
        var scores = new double[n];
        for (int b = 0; b < options.Batch; b++)
        {
            for (int head = 0; head < h; head++)
            {
                int kvHead = head / group;
                for (int i = 0; i < n; i++)
                {
                    int visible = options.Causal ? i + 1 : n;
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < visible; j++)
                    {
                        double dot = 0;
                        for (int c = 0; c < d; c++)
                        {
                            dot += (double)q[((b * n + i) * h + head) * d + c] * k[((b * n + j) * hk + kvHead) * d + c];
                        }
                        scores[j] = dot * scale;
                        max = Math.Max(max, scores[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < visible; j++)
                    {
                        scores[j] = Math.Exp(scores[j] - max);
                        sum += scores[j];
                    }
                    for (int c = 0; c < d; c++)
                    {
                        double acc = 0;
                        for (int j = 0; j < visible; j++)
                        {
                            acc += scores[j] * v[((b * n + j) * hk + kvHead) * d + c];
                        }
                        o[((b * n + i) * h + head) * d + c] = acc / sum;
                    }
                    lse[(b * h + head) * n + i] = max + Math.Log(sum);
                }
            }
        }
        return (o, lse);
    }
}
