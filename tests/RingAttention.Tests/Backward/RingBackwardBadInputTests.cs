using RingAttention.Cpu;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Tests.Backward;

/// <summary>
/// Bad input to the ring backward's entry points is rejected before any exchange, the message naming the argument, the
/// expected and the actual value (the CLI turns these into <see cref="InvalidInputException"/>, exit 2).
/// </summary>
public sealed class RingBackwardBadInputTests
{
    private static readonly AttentionOptions Options = new() { Heads = 4, KvHeads = 2, HeadDim = 8, Causal = true };
    private const int N = 12;

    private static ArgumentException Call(int dOLength = N * 32, int lseLength = 4 * N)
    {
        float[] q = new float[N * 32], kv = new float[N * 16], o = new float[N * 32];
        using var backend = new CpuBackend(threads: 1);
        return Assert.ThrowsAny<ArgumentException>(() => EmulatedRing.AttentionBackward<float>(Options, SequenceLayouts.Create(LayoutKind.Zigzag, N, 2),
            backend, q, kv, kv, o, new float[lseLength], new float[dOLength], new float[N * 32], new float[N * 16], new float[N * 16]));
    }

    [Fact]
    public void OutputGradientShapeMismatchNamesDO()
    {
        var error = Call(dOLength: N * 31);
        Assert.Equal("dO.Length", error.ParamName);
        Assert.Contains($"expected {N * 32}", error.Message);
        Assert.Contains($"actual {N * 31}", error.Message);
    }

    [Fact]
    public void MissingLseNamesLse()
    {
        var error = Call(lseLength: 0);
        Assert.Equal("lse.Length", error.ParamName);
        Assert.Contains("the forward's LSE", error.Message);
        Assert.Contains("actual 0", error.Message);
    }

    [Fact]
    public void WrongElementTypeNamesIt()
    {
        var options = new AttentionOptions { Heads = 4, KvHeads = 2, HeadDim = 8, Causal = true, ElementType = ElementType.BFloat16 };
        float[] q = new float[N * 32], kv = new float[N * 16];
        using var backend = new CpuBackend(threads: 1);
        using var transport = InProcessRing.Create(1)[0];
        var error = Assert.ThrowsAny<ArgumentException>(() => RingBackward.Run<float>(options, SequenceLayouts.Create(LayoutKind.Contiguous, N, 1),
            transport, backend, q, kv, kv, q, new float[4 * N], q, new float[N * 32], new float[N * 16], new float[N * 16]));
        Assert.Equal("T", error.ParamName);
        Assert.Contains("BFloat16", error.Message);
        Assert.Contains("Single", error.Message);
    }

    [Fact]
    public void RepeatedBackwardOnOneSessionGivesTheSameGradients()
    {
        // The session's workspace is reused; Start must reset every accumulator, so a second call equals the first.
        var problem = new BackwardProblem(Options, N);
        using var backend = new CpuBackend(threads: 1);
        using var transport = InProcessRing.Create(1)[0];
        using var session = new RankSession(transport, backend);
        var layout = SequenceLayouts.Create(LayoutKind.Contiguous, N, 1);
        var first = (new float[N * 32], new float[N * 16], new float[N * 16]);
        var second = (new float[N * 32], new float[N * 16], new float[N * 16]);
        foreach (var (dq, dk, dv) in new[] { first, second })
        {
            RingBackward.Run<float>(session, Options, layout, problem.Q, problem.K, problem.V, problem.O, problem.Lse, problem.DO, dq, dk, dv);
        }
        Assert.Equal(first.Item1, second.Item1);
        Assert.Equal(first.Item2, second.Item2);
        Assert.Equal(first.Item3, second.Item3);
        Assert.True(TestProblem.MaxAbs(first.Item1, problem.Reference.DQ) <= problem.Tolerance.DQ);
    }
}
