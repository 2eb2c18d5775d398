using System.Numerics;

namespace RingAttention.Reference;

/// <summary>
/// Textbook attention gradients with each score row materialised, for problems small enough to hold N×N per head.
/// In float64 it is the oracle of the backward kernels; in fp32 it is the yardstick their tolerances derive from.
/// Tensors are full-sequence [batch, N, heads, headDim] (K, V, dK, dV with kvHeads); query i sees key j when j ≤ i
/// (causal) or always; query head h reads KV head h / (heads / kvHeads), so dK and dV sum over the group.
/// For loss L with dO = ∂L/∂O: P = softmax(scale·QKᵀ), dV = Pᵀ·dO, dP = dO·Vᵀ, D = rowsum(dO ∘ O),
/// dS = P ∘ (dP − D), dQ = scale·dS·K, dK = scale·dSᵀ·Q.
/// </summary>
public static class NaiveAttentionBackward
{
    /// <summary>O and LSE (natural log, [batch, heads, N]) in precision <typeparamref name="T"/> from inputs in that precision.</summary>
    public static (T[] O, T[] Lse) Forward<T>(AttentionOptions options, int sequenceLength, ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v)
        where T : IFloatingPointIeee754<T>
    {
        var shape = Shape.Of(options, sequenceLength, q.Length, k.Length, v.Length);
        var o = new T[q.Length];
        var lse = new T[options.Batch * options.Heads * sequenceLength];
        var probabilities = new T[sequenceLength];
        for (int b = 0; b < options.Batch; b++)
        {
            for (int head = 0; head < shape.Heads; head++)
            {
                for (int i = 0; i < sequenceLength; i++)
                {
                    int visible = shape.VisibleKeys(i);
                    lse[(b * shape.Heads + head) * sequenceLength + i] = shape.Probabilities(q, k, b, head, i, probabilities);
                    for (int c = 0; c < shape.HeadDim; c++)
                    {
                        T acc = T.Zero;
                        for (int j = 0; j < visible; j++)
                        {
                            acc += probabilities[j] * v[shape.KeyIndex(b, j, head, c)];
                        }
                        o[shape.QueryIndex(b, i, head, c)] = acc;
                    }
                }
            }
        }
        return (o, lse);
    }

    /// <summary>
    /// dQ, dK and dV in precision <typeparamref name="T"/>. Like a backward kernel, it can be handed what the forward
    /// stored: D is computed from <paramref name="o"/> when given, else from O recomputed in <typeparamref name="T"/>;
    /// probabilities are exp(score − <paramref name="lse"/>) when given ([batch, heads, N]; a row with LSE = −inf
    /// contributes nothing), else the row's softmax recomputed in <typeparamref name="T"/>.
    /// </summary>
    public static (T[] DQ, T[] DK, T[] DV) Backward<T>(AttentionOptions options, int sequenceLength, ReadOnlySpan<T> q, ReadOnlySpan<T> k,
        ReadOnlySpan<T> v, ReadOnlySpan<T> dO, ReadOnlySpan<T> o = default, ReadOnlySpan<T> lse = default)
        where T : IFloatingPointIeee754<T>
    {
        var shape = Shape.Of(options, sequenceLength, q.Length, k.Length, v.Length);
        Guard.Length(dO.Length, q.Length, "the shape of Q: batch × N × heads × headDim");
        if (!o.IsEmpty)
        {
            Guard.Length(o.Length, q.Length, "the shape of Q: batch × N × heads × headDim");
        }
        if (!lse.IsEmpty)
        {
            Guard.Length(lse.Length, (long)options.Batch * options.Heads * sequenceLength, "batch × heads × N");
        }
        int n = sequenceLength, d = shape.HeadDim;
        T scale = T.CreateChecked(options.EffectiveSoftmaxScale);
        var dq = new T[q.Length];
        var dk = new T[k.Length];
        var dv = new T[v.Length];
        var probabilities = new T[n];
        for (int b = 0; b < options.Batch; b++)
        {
            for (int head = 0; head < shape.Heads; head++)
            {
                for (int i = 0; i < n; i++)
                {
                    int visible = shape.VisibleKeys(i);
                    if (lse.IsEmpty)
                    {
                        shape.Probabilities(q, k, b, head, i, probabilities);
                    }
                    else
                    {
                        shape.ProbabilitiesFromLse(q, k, b, head, i, lse[(b * shape.Heads + head) * n + i], probabilities);
                    }
                    int row = shape.QueryIndex(b, i, head, 0);
                    T rowSum = T.Zero;
                    for (int c = 0; c < d; c++)
                    {
                        T oc = T.Zero;
                        if (o.IsEmpty)
                        {
                            for (int j = 0; j < visible; j++)
                            {
                                oc += probabilities[j] * v[shape.KeyIndex(b, j, head, c)];
                            }
                        }
                        else
                        {
                            oc = o[row + c];
                        }
                        rowSum += dO[row + c] * oc;
                    }
                    for (int j = 0; j < visible; j++)
                    {
                        int key = shape.KeyIndex(b, j, head, 0);
                        T dp = T.Zero;
                        for (int c = 0; c < d; c++)
                        {
                            dp += dO[row + c] * v[key + c];
                        }
                        T ds = scale * probabilities[j] * (dp - rowSum);
                        for (int c = 0; c < d; c++)
                        {
                            dq[row + c] += ds * k[key + c];
                            dk[key + c] += ds * q[row + c];
                            dv[key + c] += probabilities[j] * dO[row + c];
                        }
                    }
                }
            }
        }
        return (dq, dk, dv);
    }

    /// <summary>Index arithmetic and the per-row softmax shared by the forward and the backward.</summary>
    private readonly record struct Shape(AttentionOptions Options, int N, int Heads, int KvHeads, int HeadDim)
    {
        public static Shape Of(AttentionOptions options, int n, int qLength, int kLength, int vLength)
        {
            options.Validate();
            Guard.AtLeast(n, 0, "sequenceLength");
            int h = options.Heads, hk = options.EffectiveKvHeads, d = options.HeadDim;
            Guard.Length(qLength, (long)options.Batch * n * h * d, "batch × N × heads × headDim", "q.Length");
            Guard.Length(kLength, (long)options.Batch * n * hk * d, "batch × N × kvHeads × headDim", "k.Length");
            Guard.Length(vLength, (long)options.Batch * n * hk * d, "batch × N × kvHeads × headDim", "v.Length");
            return new Shape(options, n, h, hk, d);
        }

        public int VisibleKeys(int query) => Options.Causal ? query + 1 : N;

        public int QueryIndex(int b, int i, int head, int c) => ((b * N + i) * Heads + head) * HeadDim + c;

        public int KeyIndex(int b, int j, int head, int c) => ((b * N + j) * KvHeads + head / (Heads / KvHeads)) * HeadDim + c;

        /// <summary>Fills the first VisibleKeys(i) entries of <paramref name="probabilities"/> with exp(score − <paramref name="lse"/>).</summary>
        public void ProbabilitiesFromLse<T>(ReadOnlySpan<T> q, ReadOnlySpan<T> k, int b, int head, int i, T lse, Span<T> probabilities)
            where T : IFloatingPointIeee754<T>
        {
            T scale = T.CreateChecked(Options.EffectiveSoftmaxScale);
            int row = QueryIndex(b, i, head, 0);
            for (int j = 0; j < VisibleKeys(i); j++)
            {
                int key = KeyIndex(b, j, head, 0);
                T dot = T.Zero;
                for (int c = 0; c < HeadDim; c++)
                {
                    dot += q[row + c] * k[key + c];
                }
                probabilities[j] = T.IsNegativeInfinity(lse) ? T.Zero : T.Exp(dot * scale - lse);
            }
        }

        /// <summary>Fills the first VisibleKeys(i) entries of <paramref name="probabilities"/> with row i's softmax; returns its LSE.</summary>
        public T Probabilities<T>(ReadOnlySpan<T> q, ReadOnlySpan<T> k, int b, int head, int i, Span<T> probabilities)
            where T : IFloatingPointIeee754<T>
        {
            T scale = T.CreateChecked(Options.EffectiveSoftmaxScale);
            int visible = VisibleKeys(i);
            T max = T.NegativeInfinity;
            int row = QueryIndex(b, i, head, 0);
            for (int j = 0; j < visible; j++)
            {
                int key = KeyIndex(b, j, head, 0);
                T dot = T.Zero;
                for (int c = 0; c < HeadDim; c++)
                {
                    dot += q[row + c] * k[key + c];
                }
                probabilities[j] = dot * scale;
                max = T.Max(max, probabilities[j]);
            }
            T sum = T.Zero;
            for (int j = 0; j < visible; j++)
            {
                probabilities[j] = T.Exp(probabilities[j] - max);
                sum += probabilities[j];
            }
            for (int j = 0; j < visible; j++)
            {
                probabilities[j] /= sum;
            }
            return max + T.Log(sum);
        }
    }
}
