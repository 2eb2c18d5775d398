using RingAttention.Reference;

namespace RingAttention.Tests.Backward;

/// <summary>
/// The float64 reference gradient against central finite differences of the loss L = Σ O ∘ dO on tiny problems:
/// every element of dQ, dK and dV.
/// </summary>
public sealed class ReferenceGradientTests
{
    [Theory]
    [InlineData(5, 2, 1, 3, false)]
    [InlineData(5, 2, 1, 3, true)]
    [InlineData(4, 4, 2, 2, true)]
    [InlineData(1, 1, 1, 4, false)]
    public void MatchesCentralFiniteDifferences(int n, int heads, int kvHeads, int headDim, bool causal)
    {
        var options = new AttentionOptions { Batch = 2, Heads = heads, KvHeads = kvHeads, HeadDim = headDim, Causal = causal, SoftmaxScale = 0.7f };
        var random = new Random(3);
        double[] Draw(int count) => Enumerable.Range(0, count).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        var q = Draw(options.Batch * n * options.QueryRowElements);
        var k = Draw(options.Batch * n * options.KeyRowElements);
        var v = Draw(options.Batch * n * options.KeyRowElements);
        var dO = Draw(q.Length);
        var (dq, dk, dv) = NaiveAttentionBackward.Backward<double>(options, n, q, k, v, dO);

        double Loss() => NaiveAttentionBackward.Forward<double>(options, n, q, k, v).O.Zip(dO, (o, g) => o * g).Sum();
        void Check(double[] input, double[] gradient, string name)
        {
            const double step = 1e-5;
            for (int i = 0; i < input.Length; i++)
            {
                double saved = input[i];
                input[i] = saved + step;
                double plus = Loss();
                input[i] = saved - step;
                double minus = Loss();
                input[i] = saved;
                double numeric = (plus - minus) / (2 * step);
                Assert.True(Math.Abs(numeric - gradient[i]) <= 1e-8 + 1e-6 * Math.Abs(numeric),
                    $"{name}[{i}]: analytic {gradient[i]:G12}, finite difference {numeric:G12}");
            }
        }
        Check(q, dq, "dQ");
        Check(k, dk, "dK");
        Check(v, dv, "dV");
        // The checks above would pass trivially if every gradient were zero.
        Assert.True(dq.Concat(dk).Concat(dv).Max(Math.Abs) > 1e-3);
    }

    [Fact]
    public void StoredOutputFeedsD()
    {
        var options = new AttentionOptions { Heads = 1, HeadDim = 2 };
        double[] q = [0.3, -0.2, 0.1, 0.5], k = [0.4, 0.1, -0.3, 0.2], v = [1, 2, 3, 4], dO = [0.5, -1, 0.25, 2];
        var o = NaiveAttentionBackward.Forward<double>(options, 2, q, k, v).O;
        var recomputed = NaiveAttentionBackward.Backward<double>(options, 2, q, k, v, dO);
        var given = NaiveAttentionBackward.Backward<double>(options, 2, q, k, v, dO, o);
        Assert.Equal(recomputed.DQ, given.DQ);
        // A different stored O changes D and so dQ: the argument is used.
        var shifted = NaiveAttentionBackward.Backward<double>(options, 2, q, k, v, dO, o.Select(x => x + 1).ToArray());
        Assert.NotEqual(recomputed.DQ, shifted.DQ);
    }
}
