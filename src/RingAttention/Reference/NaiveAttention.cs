using System.Numerics;

namespace RingAttention.Reference;

/// <summary>
/// Textbook attention with the whole score row materialised, for problems small enough to hold N×N per head.
/// In float64 it is the oracle; in fp32 it is the yardstick that kernel tolerances derive from. Tensors are
/// full-sequence [batch, N, heads, headDim]; LSE is [batch, heads, N], natural log. Query i sees key j when
/// j ≤ i (causal) or always.
/// </summary>
public static class NaiveAttention
{
    /// <summary>Computes O and LSE in precision <typeparamref name="T"/> for full-sequence inputs.</summary>
    public static (T[] O, T[] Lse) Forward<T>(AttentionOptions options, int sequenceLength, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v)
        where T : IFloatingPointIeee754<T>
    {
        options.Validate();
        int n = sequenceLength, h = options.Heads, hk = options.EffectiveKvHeads, d = options.HeadDim, group = h / hk;
        Guard.Length(q.Length, (long)options.Batch * n * h * d, "batch × N × heads × headDim");
        Guard.Length(k.Length, (long)options.Batch * n * hk * d, "batch × N × kvHeads × headDim");
        Guard.Length(v.Length, (long)options.Batch * n * hk * d, "batch × N × kvHeads × headDim");
        T scale = T.CreateChecked(options.EffectiveSoftmaxScale);
        var o = new T[q.Length];
        var lse = new T[options.Batch * h * n];
        var scores = new T[n];
        for (int b = 0; b < options.Batch; b++)
        {
            for (int head = 0; head < h; head++)
            {
                int kvHead = head / group;
                for (int i = 0; i < n; i++)
                {
                    int visible = options.Causal ? i + 1 : n;
                    T max = T.NegativeInfinity;
                    for (int j = 0; j < visible; j++)
                    {
                        T dot = T.Zero;
                        for (int c = 0; c < d; c++)
                        {
                            dot += T.CreateChecked(q[((b * n + i) * h + head) * d + c]) * T.CreateChecked(k[((b * n + j) * hk + kvHead) * d + c]);
                        }
                        scores[j] = dot * scale;
                        max = T.Max(max, scores[j]);
                    }
                    T sum = T.Zero;
                    for (int j = 0; j < visible; j++)
                    {
                        scores[j] = T.Exp(scores[j] - max);
                        sum += scores[j];
                    }
                    for (int c = 0; c < d; c++)
                    {
                        T acc = T.Zero;
                        for (int j = 0; j < visible; j++)
                        {
                            acc += scores[j] * T.CreateChecked(v[((b * n + j) * hk + kvHead) * d + c]);
                        }
                        o[((b * n + i) * h + head) * d + c] = acc / sum;
                    }
                    lse[(b * h + head) * n + i] = max + T.Log(sum);
                }
            }
        }
        return (o, lse);
    }
}
