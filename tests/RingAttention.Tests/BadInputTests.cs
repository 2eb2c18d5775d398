using RingAttention.Cpu;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Tests;

/// <summary>Bad input is rejected at the API boundary with the argument, the expected and the actual value.</summary>
public sealed class BadInputTests
{
    public static TheoryData<AttentionOptions, string, string, string> InvalidOptions() => new()
    {
        { new AttentionOptions { Heads = 8, KvHeads = 3 }, "Heads", "a multiple of KvHeads (3)", "actual 8" },
        { new AttentionOptions { HeadDim = 0 }, "HeadDim", "[1, 256]", "actual 0" },
        { new AttentionOptions { HeadDim = 257 }, "HeadDim", "[1, 256]", "actual 257" },
        { new AttentionOptions { Batch = -1 }, "Batch", "at least 1", "actual -1" },
        { new AttentionOptions { Heads = -4 }, "Heads", "at least 1", "actual -4" },
        { new AttentionOptions { KvHeads = 0 }, "KvHeads", "at least 1", "actual 0" },
        { new AttentionOptions { SoftmaxScale = float.NaN }, "SoftmaxScale", "finite positive", "actual NaN" },
        { new AttentionOptions { SoftmaxScale = -1f }, "SoftmaxScale", "finite positive", "actual -1" },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void InvalidOptionsNameTheFieldExpectedAndActual(AttentionOptions options, string field, string expected, string actual)
    {
        var error = Assert.ThrowsAny<ArgumentException>(options.Validate);
        Assert.Equal(field, error.ParamName);
        Assert.Contains(expected, error.Message);
        Assert.Contains(actual, error.Message);
    }

    [Fact]
    public void MismatchedTensorShapesAreRejectedBeforeAnyCompute()
    {
        var options = new AttentionOptions { Heads = 4, KvHeads = 2, HeadDim = 8 };
        var layout = new ZigzagLayout(10, 2);
        using var backend = new CpuBackend();
        float[] q = new float[10 * 32], kv = new float[10 * 16], o = new float[10 * 32], lse = new float[4 * 10];
        var error = Assert.ThrowsAny<ArgumentException>(() => EmulatedRing.Attention<float>(options, layout, backend, q, new float[10 * 32], kv, o, lse));
        Assert.Equal("k.Length", error.ParamName);
        Assert.Contains("expected 160", error.Message);
        Assert.Contains("actual 320", error.Message);
        error = Assert.ThrowsAny<ArgumentException>(() => EmulatedRing.Attention<float>(options, layout, backend, q, kv, kv, o, new float[3]));
        Assert.Equal("lse.Length", error.ParamName);
        error = Assert.ThrowsAny<ArgumentException>(() => EmulatedRing.Attention<Half>(options, layout, backend, new Half[320], new Half[160], new Half[160], new Half[320], lse));
        Assert.Contains("Float32", error.Message);
    }

    [Fact]
    public void ARankTransportMustMatchTheLayout()
    {
        var options = new AttentionOptions { Heads = 1, HeadDim = 4 };
        using var backend = new CpuBackend();
        var layout = new ContiguousLayout(8, 4);
        var transport = InProcessRing.Create(2)[0];
        using var tensors = RankTensors.Allocate(backend, options, layout.LocalLength(0));
        var error = Assert.ThrowsAny<ArgumentException>(() => new RingRank(options, layout, transport, backend, tensors));
        Assert.Contains("a ring of 4 ranks", error.Message);
        Assert.Contains("2 ranks", error.Message);
    }

    [Fact]
    public void BackendThreadCountIsChecked()
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => new CpuBackend(threads: 0));
        Assert.Equal("threads", error.ParamName);
        Assert.Contains("actual 0", error.Message);
    }
}
