using RingAttention.Layouts;

namespace RingAttention.Tests.Cpu;

/// <summary>
/// Long key blocks are swept in chunks of 4 MiB of fp32 K and V (2048 keys at head_dim 256), every query tile
/// finishing one chunk before the next: 2200 keys make two chunks, and under the causal mask the rows before key
/// 2048 take no part in the second.
/// </summary>
public sealed class KeyChunkTests
{
    [Fact]
    public void TwoChunksMatchTheFloat64Reference()
    {
        var problem = new TestProblem(new AttentionOptions { Heads = 1, HeadDim = 256, Causal = true }, 2200);
        var (o, lse) = problem.RunRing(LayoutKind.Contiguous, 1);
        var tolerance = problem.Tolerance;
        double errorO = TestProblem.MaxAbs(o, problem.Reference.O), errorLse = TestProblem.MaxAbs(lse, problem.Reference.Lse);
        Assert.True(errorO <= tolerance.O, $"O error {errorO:E3} exceeds tolerance {tolerance.O:E3}");
        Assert.True(errorLse <= tolerance.Lse, $"LSE error {errorLse:E3} exceeds tolerance {tolerance.Lse:E3}");
    }
}
