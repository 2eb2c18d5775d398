namespace RingAttention.Tests;

/// <summary>Textbook attention in fp32 (full score row, max-subtracted softmax): the same-precision yardstick.</summary>
internal static class NaiveAttention32
{
    public static (float[] O, float[] Lse) Forward(AttentionOptions options, int n, float[] q, float[] k, float[] v)
    {
        int h = options.Heads, hk = options.EffectiveKvHeads, d = options.HeadDim, group = h / hk;
        float scale = options.EffectiveSoftmaxScale;
        var o = new float[q.Length];
        var lse = new float[options.Batch * h * n];
        var scores = new float[n];
        for (int b = 0; b < options.Batch; b++)
        {
            for (int head = 0; head < h; head++)
            {
                int kvHead = head / group;
                for (int i = 0; i < n; i++)
                {
                    int visible = options.Causal ? i + 1 : n;
                    float max = float.NegativeInfinity;
                    for (int j = 0; j < visible; j++)
                    {
                        float dot = 0;
                        for (int c = 0; c < d; c++)
                        {
                            dot += q[((b * n + i) * h + head) * d + c] * k[((b * n + j) * hk + kvHead) * d + c];
                        }
                        scores[j] = dot * scale;
                        max = MathF.Max(max, scores[j]);
                    }
                    float sum = 0;
                    for (int j = 0; j < visible; j++)
                    {
                        scores[j] = MathF.Exp(scores[j] - max);
                        sum += scores[j];
                    }
                    for (int c = 0; c < d; c++)
                    {
                        float acc = 0;
                        for (int j = 0; j < visible; j++)
                        {
                            acc += scores[j] * v[((b * n + j) * hk + kvHead) * d + c];
                        }
                        o[((b * n + i) * h + head) * d + c] = acc / sum;
                    }
                    lse[(b * h + head) * n + i] = max + MathF.Log(sum);
                }
            }
        }
        return (o, lse);
    }
}
