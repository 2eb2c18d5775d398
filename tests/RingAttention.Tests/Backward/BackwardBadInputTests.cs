using RingAttention.Cpu;
using RingAttention.Kernels;

namespace RingAttention.Tests.Backward;

/// <summary>Bad input to the backward is rejected before any compute, naming the argument, the expected and the actual value.</summary>
public sealed unsafe class BackwardBadInputTests
{
    private static readonly AttentionOptions Options = new() { Heads = 4, KvHeads = 2, HeadDim = 8 };
    private const int N = 10;

    private static ArgumentException Call(Func<int, float[]>? dOOverride = null, float[]? lse = null, AttentionOptions? options = null)
    {
        float[] q = new float[N * 32], kv = new float[N * 16], o = new float[N * 32];
        var dO = dOOverride?.Invoke(0) ?? new float[N * 32];
        using var kernel = new CpuFlashBackwardKernel(threads: 1);
        return Assert.ThrowsAny<ArgumentException>(() => kernel.Backward<float>(options ?? Options, N, q, kv, kv, o, dO, lse ?? new float[4 * N],
            new float[N * 32], new float[N * 16], new float[N * 16]));
    }

    [Fact]
    public void OutputGradientShapeMismatchNamesDO()
    {
        var error = Call(dOOverride: _ => new float[N * 16]);
        Assert.Equal("dO.Length", error.ParamName);
        Assert.Contains("expected 320", error.Message);
        Assert.Contains("actual 160", error.Message);
    }

    [Fact]
    public void MissingLseNamesLse()
    {
        var error = Call(lse: []);
        Assert.Equal("lse.Length", error.ParamName);
        Assert.Contains("actual 0", error.Message);
    }

    [Fact]
    public void WrongElementTypeNamesIt()
    {
        var error = Call(options: new AttentionOptions { Heads = 4, KvHeads = 2, HeadDim = 8, ElementType = ElementType.BFloat16 });
        Assert.Equal("options.ElementType", error.ParamName);
        Assert.Contains("Float32", error.Message);
        Assert.Contains("actual BFloat16", error.Message);
    }

    [Fact]
    public void KernelCallWithoutLseNamesTheField()
    {
        var p = Valid() with { Lse = 0 };
        var error = Assert.ThrowsAny<ArgumentException>(() => CpuFlashBackwardKernel.Validate(p));
        Assert.Equal("Lse", error.ParamName);
        Assert.Contains("actual null", error.Message);
    }

    [Fact]
    public void KernelCallWithUnknownElementTypeNamesTheField()
    {
        var p = Valid() with { ElementType = 7 };
        using var kernel = new CpuFlashBackwardKernel(threads: 1);
        var error = Assert.ThrowsAny<ArgumentException>(() => kernel.Backward(p));
        Assert.Equal("ElementType", error.ParamName);
        Assert.Contains("actual 7", error.Message);
    }

    [Fact]
    public void ConvertRejectsAWrongSizedDestination()
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => CpuFlashBackwardKernel.Convert(new float[5], ElementType.Float16, new byte[8]));
        Assert.Equal("destination.Length", error.ParamName);
        Assert.Contains("expected 10", error.Message);
    }

    [Fact]
    public void ConvertRoundsToNearestEven()
    {
        float[] values = [1f + MathF.Pow(2, -8), 1f + 3 * MathF.Pow(2, -8), -2.5f];
        var bytes = new byte[values.Length * 2];
        CpuFlashBackwardKernel.Convert(values, ElementType.BFloat16, bytes);
        var bits = Enumerable.Range(0, values.Length).Select(i => BitConverter.ToUInt16(bytes, 2 * i)).ToArray();
        Assert.Equal(values.Select(x => ((BFloat16)x).Bits), bits);
        Assert.Equal(1f, (float)BFloat16.FromBits(bits[0]));
        Assert.Equal(1f + MathF.Pow(2, -6), (float)BFloat16.FromBits(bits[1]));
    }

    /// <summary>Parameters with every pointer set (never dereferenced: validation fails first).</summary>
    private static FlashBackwardParams Valid() =>
        FlashBackwardParams.ForContiguousTensors(Options, N, N, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16);
}
