using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Layouts;
using RingAttention.Reference;
using RingAttention.Ring;

namespace RingAttention.Cuda.Diagnostics;

/// <summary>One check of the GPU path: what ran, whether it passed, and the figures behind the verdict.</summary>
/// <param name="Name">What was checked.</param>
/// <param name="Passed">Whether the errors are within tolerance.</param>
/// <param name="Detail">Errors and tolerances.</param>
public sealed record CheckResult(string Name, bool Passed, string Detail);

/// <summary>
/// The checks that need a GPU for <c>ringattn selftest</c> (GPU hosts without the .NET SDK, so without the test
/// projects): the CUDA kernels against the CPU backend over a shape grid, and the single-GPU emulated ring against
/// single-device attention for every layout (also run by the xUnit GPU tests). The xUnit tests check the kernels with
/// the suite every backend runs (tests/Shared/KernelSuite.cs); this grid stays because the selftest ships in the tool. The float64 reference is the oracle; the GPU's error may be at most twice the
/// yardstick's (the CPU backend's, or the single-device GPU run's) plus what the GPU rounds differently: P in the
/// storage type before P·V on tensor cores, and O's final rounding.
/// </summary>
public static class GpuChecks
{
    /// <summary>
    /// The kernels (tensor-core and fp32) against the CPU backend on the same inputs: every storage type, head dim
    /// and length of the grid (or of <paramref name="types"/>, <paramref name="headDims"/> and <paramref name="lengths"/>
    /// when given), causal and not.
    /// </summary>
    public static IEnumerable<CheckResult> KernelAgainstCpu(CudaBackend gpu, CpuBackend cpu, bool quick = false,
        IReadOnlyList<ElementType>? types = null, IReadOnlyList<int>? headDims = null, IReadOnlyList<int>? lengths = null)
    {
        types ??= [ElementType.Float32, ElementType.Float16, ElementType.BFloat16];
        headDims ??= quick ? [64, 128] : [16, 40, 64, 128, 200, 256];
        lengths ??= quick ? [1, 333] : [1, 70, 333];
        foreach (var type in types)
        {
            foreach (int d in headDims)
            {
                foreach (int n in lengths)
                {
                    foreach (bool causal in new[] { false, true })
                    {
                        var options = new AttentionOptions { Batch = 2, Heads = 4, KvHeads = 2, HeadDim = d, Causal = causal, ElementType = type };
                        var problem = new Problem(options, n);
                        var single = SequenceLayouts.Create(LayoutKind.Contiguous, n, 1);
                        var expected = problem.Errors(problem.Run(cpu, single));
                        var actual = problem.Errors(problem.Run(gpu, single));
                        yield return problem.Verdict($"kernel {ElementTypes.ShortName(type)} d={d} N={n} causal={causal}", actual, expected);
                    }
                }
            }
        }
    }

    /// <summary>The emulated ring (P virtual ranks on one GPU, CudaCopyRing) against single-device attention on the GPU.</summary>
    public static IEnumerable<CheckResult> RingAgainstSingleDevice(CudaBackend gpu, bool quick = false)
    {
        int[] rankCounts = quick ? [3] : [2, 3, 5];
        foreach (var type in new[] { ElementType.BFloat16, ElementType.Float32 })
        {
            foreach (var layout in Enum.GetValues<LayoutKind>())
            {
                foreach (int ranks in rankCounts)
                {
                    foreach (bool causal in new[] { false, true })
                    {
                        const int n = 517;
                        var options = new AttentionOptions { Heads = 4, KvHeads = 2, HeadDim = 128, Causal = causal, ElementType = type };
                        var problem = new Problem(options, n);
                        var expected = problem.Errors(problem.Run(gpu, SequenceLayouts.Create(LayoutKind.Contiguous, n, 1)));
                        var actual = problem.Errors(problem.Run(gpu, SequenceLayouts.Create(layout, n, ranks)));
                        yield return problem.Verdict($"ring {ElementTypes.ShortName(type)} {layout} P={ranks} N={n} causal={causal}", actual, expected);
                    }
                }
            }
        }
    }

    /// <summary>Inputs rounded to the storage type, their float64 reference, and error measures.</summary>
    private sealed class Problem
    {
        private readonly AttentionOptions _options;
        private readonly int _n;
        private readonly float[] _q, _k, _v;
        private readonly double[] _referenceO, _referenceLse;
        private readonly double _maxAbsV, _maxAbsO, _maxAbsLse;

        public Problem(AttentionOptions options, int n)
        {
            _options = options;
            _n = n;
            var source = new CounterRandomSource(11, options, n);
            _q = Read(source, QkvTensor.Q, options.QueryRowElements);
            _k = Read(source, QkvTensor.K, options.KeyRowElements);
            _v = Read(source, QkvTensor.V, options.KeyRowElements);
            (_referenceO, _referenceLse) = NaiveAttention.Forward<double>(options, n, _q, _k, _v);
            _maxAbsV = _v.Select(x => Math.Abs((double)x)).DefaultIfEmpty(0).Max();
            _maxAbsO = _referenceO.Select(Math.Abs).DefaultIfEmpty(0).Max();
            _maxAbsLse = _referenceLse.Where(double.IsFinite).Select(Math.Abs).DefaultIfEmpty(0).Max();
        }

        public (float[] O, float[] Lse) Run(RingAttention.Kernels.IAttentionBackend backend, ISequenceLayout layout)
        {
            var lse = new float[_options.Batch * _options.Heads * _n];
            switch (_options.ElementType)
            {
                case ElementType.Float16:
                    var oHalf = new Half[_q.Length];
                    EmulatedRing.Attention<Half>(_options, layout, backend, ToHalf(_q), ToHalf(_k), ToHalf(_v), oHalf, lse);
                    return (oHalf.Select(x => (float)x).ToArray(), lse);
                case ElementType.BFloat16:
                    var oBf16 = new BFloat16[_q.Length];
                    EmulatedRing.Attention<BFloat16>(_options, layout, backend, ToBf16(_q), ToBf16(_k), ToBf16(_v), oBf16, lse);
                    return (oBf16.Select(x => (float)x).ToArray(), lse);
                default:
                    var o = new float[_q.Length];
                    EmulatedRing.Attention<float>(_options, layout, backend, _q, _k, _v, o, lse);
                    return (o, lse);
            }
        }

        public (double O, double Lse) Errors((float[] O, float[] Lse) result) => (MaxAbs(result.O, _referenceO), MaxAbs(result.Lse, _referenceLse));

        public CheckResult Verdict(string name, (double O, double Lse) actual, (double O, double Lse) yardstick)
        {
            double unit = _options.ElementType switch
            {
                ElementType.Float16 => Math.Pow(2, -11),
                ElementType.BFloat16 => Math.Pow(2, -8),
                _ => 0,
            };
            double floorO = 4 * Math.Pow(2, -24) * _maxAbsO + unit * (_maxAbsV + _maxAbsO);
            double floorLse = 1e-5 * Math.Max(1, _maxAbsLse);
            double toleranceO = 2 * yardstick.O + floorO, toleranceLse = 2 * yardstick.Lse + floorLse;
            bool passed = actual.O <= toleranceO && actual.Lse <= toleranceLse;
            return new CheckResult(name, passed,
                $"O err {actual.O:E2} (tol {toleranceO:E2}, yardstick {yardstick.O:E2}); LSE err {actual.Lse:E2} (tol {toleranceLse:E2}, yardstick {yardstick.Lse:E2})");
        }

        private float[] Read(CounterRandomSource source, QkvTensor tensor, int width)
        {
            var full = new float[_options.Batch * _n * width];
            for (int b = 0; b < _options.Batch; b++)
            {
                for (int i = 0; i < _n; i++)
                {
                    source.ReadRow(tensor, b, i, full.AsSpan((b * _n + i) * width, width));
                }
            }
            StorageRounding.Round(_options.ElementType, full);
            return full;
        }

        private static Half[] ToHalf(float[] values) => values.Select(x => (Half)x).ToArray();

        private static BFloat16[] ToBf16(float[] values) => values.Select(x => (BFloat16)x).ToArray();

        private static double MaxAbs(float[] actual, double[] expected)
        {
            double max = 0;
            for (int i = 0; i < actual.Length; i++)
            {
                if (double.IsNegativeInfinity(expected[i]) && float.IsNegativeInfinity(actual[i]))
                {
                    continue;
                }
                if (!float.IsFinite(actual[i]))
                {
                    return double.PositiveInfinity;
                }
                max = Math.Max(max, Math.Abs(actual[i] - expected[i]));
            }
            return max;
        }
    }
}
