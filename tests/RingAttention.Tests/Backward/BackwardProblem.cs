using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Reference;
using RingAttention.Ring;

namespace RingAttention.Tests.Backward;

/// <summary>
/// A full-sequence backward problem: random Q, K, V and dO (already rounded to the storage type), the O and LSE a
/// forward would have stored (the float64 forward rounded to storage and fp32), the float64 oracle gradients, and the
/// tolerances derived from a naive implementation in the same precision.
/// </summary>
internal sealed class BackwardProblem
{
    public BackwardProblem(AttentionOptions options, int n, ulong seed = 11)
    {
        Options = options;
        N = n;
        var source = new TestProblem(options, n, seed);
        Q = source.Q;
        K = source.K;
        V = source.V;
        // dO is drawn like Q (same shape) from another seed, then rounded to storage by the source.
        DO = new TestProblem(options, n, seed + 1000).Q;
        var (o, lse) = NaiveAttentionBackward.Forward<double>(options, n, Widen(Q), Widen(K), Widen(V));
        O = o.Select(x => (float)x).ToArray();
        StorageRounding.Round(options.ElementType, O);
        Lse = lse.Select(x => (float)x).ToArray();
        _reference = new Lazy<(double[] DQ, double[] DK, double[] DV)>(() =>
            NaiveAttentionBackward.Backward<double>(options, n, Widen(Q), Widen(K), Widen(V), Widen(DO)));
    }

    private readonly Lazy<(double[] DQ, double[] DK, double[] DV)> _reference;

    public AttentionOptions Options { get; }
    public int N { get; }
    public float[] Q { get; }
    public float[] K { get; }
    public float[] V { get; }
    public float[] DO { get; }

    /// <summary>The forward's stored output, in storage precision.</summary>
    public float[] O { get; }

    /// <summary>The forward's LSE, fp32.</summary>
    public float[] Lse { get; }

    public (double[] DQ, double[] DK, double[] DV) Reference => _reference.Value;

    /// <summary>
    /// Per tensor: twice the error of a naive fp32 backward that, like the kernel, reads the stored O and LSE and whose
    /// gradients are rounded to the storage type, plus a floor of 4 fp32 ulp of the terms involved. dS = P ∘ (dP − D)
    /// cancels (exactly, when a row sees one key), so the floor of dQ and dK is taken at the size of the terms of the
    /// dot products that cancel, scale · max(Σ|dO∘v| + Σ|dO∘o|) · max|K| (or max|Q|); that of dV at its largest
    /// reference value.
    /// </summary>
    public (double DQ, double DK, double DV) Tolerance
    {
        get
        {
            var (dq, dk, dv) = NaiveAttentionBackward.Backward<float>(Options, N, Q, K, V, DO, O, Lse);
            StorageRounding.Round(Options.ElementType, dq);
            StorageRounding.Round(Options.ElementType, dk);
            StorageRounding.Round(Options.ElementType, dv);
            var reference = Reference;
            double ulp = Math.Pow(2, -24), cancelling = Options.EffectiveSoftmaxScale * CancellingMagnitude();
            return (2 * TestProblem.MaxAbs(dq, reference.DQ) + 4 * ulp * cancelling * MaxAbs(K),
                2 * TestProblem.MaxAbs(dk, reference.DK) + 4 * ulp * cancelling * MaxAbs(Q),
                2 * TestProblem.MaxAbs(dv, reference.DV) + 4 * ulp * reference.DV.Select(Math.Abs).DefaultIfEmpty(0).Max());
        }
    }

    private static double MaxAbs(float[] values) => values.Select(x => (double)Math.Abs(x)).DefaultIfEmpty(0).Max();

    /// <summary>max over visible (row, key) pairs of Σ|dO∘v| + Σ|dO∘o|: the terms of dP and D.</summary>
    private double CancellingMagnitude()
    {
        int h = Options.Heads, hk = Options.EffectiveKvHeads, d = Options.HeadDim, group = h / hk;
        double max = 0;
        for (int b = 0; b < Options.Batch; b++)
        {
            for (int head = 0; head < h; head++)
            {
                for (int i = 0; i < N; i++)
                {
                    int row = ((b * N + i) * h + head) * d;
                    double rowSum = 0;
                    for (int c = 0; c < d; c++)
                    {
                        rowSum += Math.Abs((double)DO[row + c] * O[row + c]);
                    }
                    for (int j = 0; j < (Options.Causal ? i + 1 : N); j++)
                    {
                        int key = ((b * N + j) * hk + head / group) * d;
                        double dp = 0;
                        for (int c = 0; c < d; c++)
                        {
                            dp += Math.Abs((double)DO[row + c] * V[key + c]);
                        }
                        max = Math.Max(max, dp + rowSum);
                    }
                }
            }
        }
        return max;
    }

    /// <summary>Runs the kernel's single-device backward in the storage type; gradients widened back to float.</summary>
    public (float[] DQ, float[] DK, float[] DV) Run(CpuFlashBackwardKernel kernel) => Options.ElementType switch
    {
        ElementType.BFloat16 => RunAs(kernel, f => (BFloat16)f, b => (float)b),
        ElementType.Float16 => RunAs(kernel, f => (Half)f, h => (float)h),
        _ => RunAs(kernel, f => f, f => f),
    };

    private (float[] DQ, float[] DK, float[] DV) RunAs<T>(CpuFlashBackwardKernel kernel, Func<float, T> narrow, Func<T, float> widen)
        where T : unmanaged
    {
        var dq = new T[Q.Length];
        var dk = new T[K.Length];
        var dv = new T[V.Length];
        kernel.Backward<T>(Options, N, Q.Select(narrow).ToArray(), K.Select(narrow).ToArray(), V.Select(narrow).ToArray(), O.Select(narrow).ToArray(),
            DO.Select(narrow).ToArray(), Lse, dq, dk, dv);
        return (dq.Select(widen).ToArray(), dk.Select(widen).ToArray(), dv.Select(widen).ToArray());
    }

    /// <summary>
    /// Runs the backward by way of an emulated ring of <paramref name="ranks"/> ranks over <paramref name="layout"/>, in the
    /// storage type, from the same O and LSE; gradients widened back to float, and the ranks' reports.
    /// </summary>
    public (float[] DQ, float[] DK, float[] DV, RankReport[] Reports) RunRing(LayoutKind layout, int ranks, IAttentionBackend backend) =>
        Options.ElementType switch
        {
            ElementType.BFloat16 => RunRingAs(layout, ranks, backend, f => (BFloat16)f, b => (float)b),
            ElementType.Float16 => RunRingAs(layout, ranks, backend, f => (Half)f, h => (float)h),
            _ => RunRingAs(layout, ranks, backend, f => f, f => f),
        };

    private (float[] DQ, float[] DK, float[] DV, RankReport[] Reports) RunRingAs<T>(LayoutKind layout, int ranks, IAttentionBackend backend,
        Func<float, T> narrow, Func<T, float> widen) where T : unmanaged
    {
        var dq = new T[Q.Length];
        var dk = new T[K.Length];
        var dv = new T[V.Length];
        var reports = EmulatedRing.AttentionBackward<T>(Options, SequenceLayouts.Create(layout, N, ranks), backend, Q.Select(narrow).ToArray(),
            K.Select(narrow).ToArray(), V.Select(narrow).ToArray(), O.Select(narrow).ToArray(), Lse, DO.Select(narrow).ToArray(), dq, dk, dv);
        return (dq.Select(widen).ToArray(), dk.Select(widen).ToArray(), dv.Select(widen).ToArray(), reports);
    }

    public static double[] Widen(float[] values) => Array.ConvertAll(values, x => (double)x);
}
