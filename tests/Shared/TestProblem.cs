using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Reference;
using RingAttention.Ring;

namespace RingAttention.Tests;

/// <summary>
/// A full-sequence problem with random inputs (rounded to the storage type), its float64 oracle and a naive fp32
/// result for tolerances: the one test problem of the kernel, ring and storage-type tests of every test project.
/// </summary>
internal sealed class TestProblem
{
    public TestProblem(AttentionOptions options, int n, ulong seed = 7)
    {
        Options = options;
        N = n;
        Source = new CounterRandomSource(seed, options, n);
        Q = ReadFull(QkvTensor.Q, options.QueryRowElements);
        K = ReadFull(QkvTensor.K, options.KeyRowElements);
        V = ReadFull(QkvTensor.V, options.KeyRowElements);
        _reference = new Lazy<(double[] O, double[] Lse)>(() => NaiveAttention.Forward<double>(options, n, Q, K, V));
        _naive32 = new Lazy<(float[] O, float[] Lse)>(() => NaiveAttention.Forward<float>(options, n, Q, K, V));
    }

    private readonly Lazy<(double[] O, double[] Lse)> _reference;
    private readonly Lazy<(float[] O, float[] Lse)> _naive32;

    public AttentionOptions Options { get; }
    public int N { get; }
    public CounterRandomSource Source { get; }
    public float[] Q { get; }
    public float[] K { get; }
    public float[] V { get; }
    public (double[] O, double[] Lse) Reference => _reference.Value;

    /// <summary>Error of a naive fp32 implementation against the oracle: the yardstick for kernel tolerances.</summary>
    public (double O, double Lse) NaiveError => (MaxAbs(_naive32.Value.O, Reference.O), MaxAbs(_naive32.Value.Lse, Reference.Lse));

    /// <summary>The tolerance: twice the naive fp32 error, with a floor of 4 ulp of the largest reference value.</summary>
    public (double O, double Lse) Tolerance
    {
        get
        {
            var naive = NaiveError;
            double floorO = 4 * Math.Pow(2, -24) * Reference.O.Select(Math.Abs).DefaultIfEmpty(0).Max();
            double floorLse = 4 * Math.Pow(2, -24) * Reference.Lse.Where(double.IsFinite).Select(Math.Abs).DefaultIfEmpty(0).Max();
            return (2 * naive.O + floorO, 2 * naive.Lse + floorLse);
        }
    }

    /// <summary>
    /// The tolerance for a result stored in <see cref="AttentionOptions.ElementType"/>: <see cref="Tolerance"/> plus, for
    /// a 16-bit type, one unit of its rounding of O and of P before P·V (a GPU's tensor cores take P in the storage
    /// type): unit · (max |V| + max |O|).
    /// </summary>
    public (double O, double Lse) StorageTolerance
    {
        get
        {
            double unit = Options.ElementType switch
            {
                ElementType.Float16 => Math.Pow(2, -11),
                ElementType.BFloat16 => Math.Pow(2, -8),
                _ => 0,
            };
            double maxAbsV = V.Select(x => Math.Abs((double)x)).DefaultIfEmpty(0).Max();
            double maxAbsO = Reference.O.Select(Math.Abs).DefaultIfEmpty(0).Max();
            var tolerance = Tolerance;
            return (tolerance.O + unit * (maxAbsV + maxAbsO), tolerance.Lse);
        }
    }

    /// <summary>Runs the problem on <paramref name="backend"/> over <paramref name="layout"/> in its storage type; O comes back widened to fp32.</summary>
    public (float[] O, float[] Lse) Run(IAttentionBackend backend, ISequenceLayout layout)
    {
        var lse = new float[Options.Batch * Options.Heads * N];
        switch (Options.ElementType)
        {
            case ElementType.Float16:
                var oHalf = new Half[Q.Length];
                EmulatedRing.Attention<Half>(Options, layout, backend, ToHalf(Q), ToHalf(K), ToHalf(V), oHalf, lse);
                return (oHalf.Select(x => (float)x).ToArray(), lse);
            case ElementType.BFloat16:
                var oBf16 = new BFloat16[Q.Length];
                EmulatedRing.Attention<BFloat16>(Options, layout, backend, ToBf16(Q), ToBf16(K), ToBf16(V), oBf16, lse);
                return (oBf16.Select(x => (float)x).ToArray(), lse);
            default:
                var o = new float[Q.Length];
                EmulatedRing.Attention<float>(Options, layout, backend, Q, K, V, o, lse);
                return (o, lse);
        }
    }

    /// <summary>Runs the ring over P emulated ranks and gathers full-sequence O and LSE.</summary>
    public (float[] O, float[] Lse) RunRing(LayoutKind layout, int ranks, CpuBackend? backend = null)
    {
        var o = new float[Q.Length];
        var lse = new float[Options.Batch * Options.Heads * N];
        using var owned = backend is null ? new CpuBackend() : null;
        EmulatedRing.Attention<float>(Options, SequenceLayouts.Create(layout, N, ranks), backend ?? owned!, Q, K, V, o, lse);
        return (o, lse);
    }

    public static double MaxAbs(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        double max = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            if (double.IsNegativeInfinity(expected[i]) && float.IsNegativeInfinity(actual[i]))
            {
                continue;
            }
            max = Math.Max(max, Math.Abs(actual[i] - expected[i]));
            if (double.IsNaN(actual[i]))
            {
                return double.PositiveInfinity;
            }
        }
        return max;
    }

    private static Half[] ToHalf(float[] values) => values.Select(x => (Half)x).ToArray();

    private static BFloat16[] ToBf16(float[] values) => values.Select(x => (BFloat16)x).ToArray();

    private float[] ReadFull(QkvTensor tensor, int width)
    {
        var full = new float[Options.Batch * N * width];
        for (int b = 0; b < Options.Batch; b++)
        {
            for (int i = 0; i < N; i++)
            {
                Source.ReadRow(tensor, b, i, full.AsSpan((b * N + i) * width, width));
            }
        }
        StorageRounding.Round(Options.ElementType, full);
        return full;
    }
}
