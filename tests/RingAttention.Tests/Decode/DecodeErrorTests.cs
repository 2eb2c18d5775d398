using RingAttention.Decode;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Tests.Decode;

/// <summary>Running out of cache and shapes that do not fit give errors that name the argument; nothing crashes.</summary>
public sealed class DecodeErrorTests
{
    private static readonly AttentionOptions Options = new() { Batch = 2, Heads = 4, KvHeads = 2, HeadDim = 8, Causal = true };

    [Fact]
    public void AFullCacheFailsWithAClearErrorAndKeepsWhatItHeld()
    {
        var problem = new DecodeProblem(Options, prefill: 6, steps: 0, tokensPerStep: 1);
        using var decode = new EmulatedDecode(Options, 2, new DecodeCacheOptions { BlockSize = 1, Headroom = 0, MaxTokensPerRank = 4 });
        problem.RunEmulated(LayoutKind.Zigzag, 2, new DecodeCacheOptions(), decode);
        int kw = Options.KeyRowElements, qw = Options.QueryRowElements;
        var oneK = new float[2 * kw];
        // Three per rank after the prefill, room for one more each: two tokens fit, the third does not.
        decode.Step<float>(new float[2 * 2 * qw], new float[2 * 2 * kw], new float[2 * 2 * kw], new float[2 * 2 * qw], new float[2 * 4 * 2]);
        var e = Assert.Throws<InvalidInputException>(() => decode.Append<float>(oneK, oneK));
        Assert.Equal(nameof(DecodeCacheOptions.MaxTokensPerRank), e.Argument);
        Assert.Contains("full (4 tokens", e.Message);
        Assert.All(decode.Sessions, s => Assert.Equal(4, s.Cache.Length));
    }

    [Fact]
    public void APrefillShardLargerThanTheLimitIsRejected()
    {
        var problem = new DecodeProblem(Options, prefill: 10, steps: 0, tokensPerStep: 1);
        using var decode = new EmulatedDecode(Options, 2, new DecodeCacheOptions { MaxTokensPerRank = 4 });
        var e = Assert.Throws<InvalidInputException>(() => problem.RunEmulated(LayoutKind.Contiguous, 2, new DecodeCacheOptions(), decode));
        Assert.Equal(nameof(DecodeCacheOptions.MaxTokensPerRank), e.Argument);
    }

    [Fact]
    public void ShapesThatDoNotFitNameTheArgument()
    {
        var problem = new DecodeProblem(Options, prefill: 5, steps: 0, tokensPerStep: 1);
        using var decode = new EmulatedDecode(Options, 3);
        problem.RunEmulated(LayoutKind.Striped, 3, new DecodeCacheOptions(), decode);
        int kw = Options.KeyRowElements, qw = Options.QueryRowElements;
        float[] q = new float[2 * qw], k = new float[2 * kw], o = new float[2 * qw], lse = new float[2 * 4];
        Assert.Equal("k", Assert.Throws<ArgumentException>(() => decode.Step<float>(q, new float[2 * kw + 1], k, o, lse)).ParamName);
        Assert.Equal("v", Assert.Throws<ArgumentException>(() => decode.Step<float>(q, k, new float[4 * kw], o, lse)).ParamName);
        Assert.Equal("q", Assert.Throws<ArgumentException>(() => decode.Step<float>(new float[qw], k, k, o, lse)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentException>(() => decode.Append<float>(new float[kw], new float[kw])).ParamName);
        Assert.Equal("T", Assert.Throws<ArgumentException>(() => decode.Step<Half>(new Half[2 * qw], new Half[2 * kw], new Half[2 * kw], new Half[2 * qw], lse)).ParamName);
        Assert.Equal(5, decode.SequenceLength);
        // The output shapes are checked before anything is written.
        Assert.Equal("o", Assert.Throws<ArgumentException>(() => decode.Step<float>(q, k, k, new float[qw], lse)).ParamName);
    }

    [Fact]
    public void StepBeforePrefillAndLayoutOfAnotherRingAreRejected()
    {
        using var decode = new EmulatedDecode(Options, 2);
        Assert.Throws<InvalidOperationException>(() => decode.Sessions[0].Cache);
        using var backend = new RingAttention.Cpu.CpuBackend(1);
        float[] none = [];
        var e = Assert.Throws<ArgumentException>(() => decode.Prefill<float>(new ZigzagLayout(4, 3), backend, none, none, none, none, none));
        Assert.Equal("layout", e.ParamName);
        using var transport = InProcessRing.Create(1)[0];
        Assert.Equal("BlockSize", Assert.Throws<ArgumentOutOfRangeException>(() => new DecodeSession(Options, transport, new DecodeCacheOptions { BlockSize = 0 })).ParamName);
    }
}
