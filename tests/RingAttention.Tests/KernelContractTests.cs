using RingAttention.Cpu;
using RingAttention.Kernels;

namespace RingAttention.Tests;

/// <summary>The block-kernel contract itself: running state, positions, rows that see nothing.</summary>
public sealed unsafe class KernelContractTests
{
    private const int Heads = 2, HeadDim = 16;

    [Fact]
    public void RowsThatSeeNoKeyGetZeroOutputAndNegativeInfinityLse()
    {
        // Queries at positions 0..9, keys at 20..29: under the causal mask nothing is visible.
        var problem = new TestProblem(new AttentionOptions { Heads = Heads, HeadDim = HeadDim }, 10);
        using var state = new KernelState(10);
        Run(state, problem, queryStart: 0, keyStart: 20, keyFrom: 0, keyCount: 10, causal: true);
        var (o, lse) = state.Finalize();
        Assert.All(o, x => Assert.Equal(0f, x));
        Assert.All(lse, x => Assert.True(float.IsNegativeInfinity(x)));
    }

    [Fact]
    public void ContinuingTheStateOverTwoKeyBlocksEqualsOneCall()
    {
        var problem = new TestProblem(new AttentionOptions { Heads = Heads, HeadDim = HeadDim }, 150);
        using var whole = new KernelState(150);
        Run(whole, problem, 0, 0, keyFrom: 0, keyCount: 150, causal: false);
        using var split = new KernelState(150);
        Run(split, problem, 0, 0, keyFrom: 0, keyCount: 70, causal: false);
        Run(split, problem, 0, 70, keyFrom: 70, keyCount: 80, causal: false);
        var (o1, lse1) = whole.Finalize();
        var (o2, lse2) = split.Finalize();
        Assert.True(TestProblem.MaxAbs(o2, o1.Select(x => (double)x).ToArray()) <= problem.Tolerance.O);
        Assert.True(TestProblem.MaxAbs(lse2, lse1.Select(x => (double)x).ToArray()) <= problem.Tolerance.Lse);
    }

    [Fact]
    public void StridedPositionsMaskExactlyTheLaterKeys()
    {
        // Queries at 1, 4, 7, … (stride 3) against keys at 0, 2, 4, … (stride 2): query i sees keys with 2j ≤ 3i + 1.
        var problem = new TestProblem(new AttentionOptions { Heads = Heads, HeadDim = HeadDim }, 100);
        using var state = new KernelState(100);
        Run(state, problem, queryStart: 1, keyStart: 0, keyFrom: 0, keyCount: 100, causal: true, queryStride: 3, keyStride: 2);
        var (o, lse) = state.Finalize();
        for (int i = 0; i < 100; i += 13)
        {
            int visible = Math.Min(100, (3 * i + 1) / 2 + 1);
            var (expectedO, expectedLse) = Reference.NaiveAttention.Forward<double>(problem.Options, visible,
                Enumerable.Repeat(problem.Q.Skip(i * Heads * HeadDim).Take(Heads * HeadDim), visible).SelectMany(x => x).ToArray(),
                problem.K.Take(visible * Heads * HeadDim).ToArray(), problem.V.Take(visible * Heads * HeadDim).ToArray());
            for (int c = 0; c < Heads * HeadDim; c++)
            {
                Assert.True(Math.Abs(o[i * Heads * HeadDim + c] - expectedO[c]) <= problem.Tolerance.O, $"row {i} element {c}");
            }
            Assert.True(Math.Abs(lse[i] - expectedLse[0]) <= problem.Tolerance.Lse, $"row {i} LSE");
        }
    }

    [Fact]
    public void ACallWhoseKeysAreAllHiddenLeavesTheStateUntouched()
    {
        var problem = new TestProblem(new AttentionOptions { Heads = Heads, HeadDim = HeadDim }, 40);
        using var state = new KernelState(40);
        Run(state, problem, 100, 0, keyFrom: 0, keyCount: 40, causal: true);
        var before = state.Snapshot();
        Run(state, problem, 100, 500, keyFrom: 0, keyCount: 40, causal: true);
        Assert.Equal(before, state.Snapshot());
    }

    private static void Run(KernelState state, TestProblem problem, int queryStart, int keyStart, int keyFrom, int keyCount, bool causal, int queryStride = 1, int keyStride = 1)
    {
        int row = Heads * HeadDim;
        fixed (float* q = problem.Q, k = problem.K, v = problem.V)
        {
            var options = new AttentionOptions { Heads = Heads, HeadDim = HeadDim, SoftmaxScale = problem.Options.EffectiveSoftmaxScale, Causal = causal };
            var args = FlashForwardParams.ForContiguousTensors(options, state.Rows, keyCount,
                (nint)q, (nint)(k + keyFrom * row), (nint)(v + keyFrom * row), state.OAccum.Address, state.RowMax.Address, state.RowSum.Address)
                with { QPosStart = queryStart, QPosStride = queryStride, KPosStart = keyStart, KPosStride = keyStride };
            state.Backend.Forward(args);
        }
    }

    /// <summary>A query block's running state, initialised as a rank's is before its first step.</summary>
    private sealed class KernelState : IDisposable
    {
        public KernelState(int rows)
        {
            Rows = rows;
            OAccum = HostBuffer.Allocate((long)rows * Heads * HeadDim * sizeof(float));
            RowMax = HostBuffer.Allocate((long)rows * Heads * sizeof(float));
            RowSum = HostBuffer.Allocate((long)rows * Heads * sizeof(float));
            OAccum.AsSpan<float>().Clear();
            RowMax.AsSpan<float>().Fill(float.NegativeInfinity);
            RowSum.AsSpan<float>().Clear();
        }

        public CpuBackend Backend { get; } = new();
        public int Rows { get; }
        public HostBuffer OAccum { get; }
        public HostBuffer RowMax { get; }
        public HostBuffer RowSum { get; }

        public float[] Snapshot() => [.. OAccum.AsSpan<float>(), .. RowMax.AsSpan<float>(), .. RowSum.AsSpan<float>()];

        public (float[] O, float[] Lse) Finalize()
        {
            using var o = HostBuffer.Allocate(OAccum.Bytes);
            using var lse = HostBuffer.Allocate(RowMax.Bytes);
            Backend.FinishRows(new FlashFinalizeParams
            {
                OAccum = OAccum.Address, RowMax = RowMax.Address, RowSum = RowSum.Address, O = o.Address, Lse = lse.Address,
                Batch = 1, Heads = Heads, HeadDim = HeadDim, SeqLenQ = Rows, ElementType = (int)ElementType.Float32,
            });
            // LSE comes back [heads, rows]; tests index row-major by row for head 0.
            return (o.AsSpan<float>().ToArray(), lse.AsSpan<float>().ToArray());
        }

        public void Dispose()
        {
            Backend.Dispose();
            OAccum.Dispose();
            RowMax.Dispose();
            RowSum.Dispose();
        }
    }
}
