using System.Runtime.InteropServices;
using RingAttention.Cpu;
using RingAttention.Decode;
using RingAttention.Ring;

namespace RingAttention.Tests.Decode;

/// <summary>The cross-rank merge: −inf is the identity, no key anywhere gives O = 0 and LSE = −inf, NaN propagates.</summary>
public sealed class DecodeMergeTests
{
    private static (float[] O, float[] Lse) Merge(params (float[] O, float[] Lse)[] partials)
    {
        var transports = InProcessRing.Create(partials.Length);
        using var backend = new CpuBackend(1);
        var merges = transports.Select(t => new DecodeMerge(t.Rank, t.Size, backend)).ToArray();
        var pending = partials.Select((p, r) =>
        {
            // Each rank's partial goes into its slot, as the decode kernel writes it: O, then LSE.
            var (buffer, offset) = merges[r].Prepare(p.Lse.Length, p.O.Length / p.Lse.Length);
            backend.Upload(MemoryMarshal.AsBytes(p.O.AsSpan()), buffer, offset);
            backend.Upload(MemoryMarshal.AsBytes(p.Lse.AsSpan()), buffer, offset + p.O.Length * sizeof(float));
            return merges[r].Post(transports[r]);
        }).ToArray();
        var results = new List<(float[] O, float[] Lse)>();
        for (int r = 0; r < partials.Length; r++)
        {
            pending[r].Wait();
            var o = new float[partials[r].O.Length];
            var lse = new float[partials[r].Lse.Length];
            merges[r].Finish(o, lse);
            results.Add((o, lse));
            merges[r].Dispose();
            transports[r].Dispose();
        }
        foreach (var result in results)
        {
            Assert.Equal(results[0].O, result.O);
            Assert.Equal(results[0].Lse, result.Lse);
        }
        return results[0];
    }

    [Fact]
    public void EmptyRanksAreTheIdentity()
    {
        float ninf = float.NegativeInfinity;
        var (o, lse) = Merge(([0, 0], [ninf]), ([1, 2], [0.5f]), ([0, 0], [ninf]));
        Assert.Equal([1f, 2f], o);
        Assert.Equal(0.5f, lse[0]);
    }

    [Fact]
    public void RowsThatSawNoKeyAnywhereAreZeroWithMinusInfinity()
    {
        float ninf = float.NegativeInfinity;
        var (o, lse) = Merge(([0, 0, 3, 4], [ninf, 0f]), ([0, 0, 5, 6], [ninf, 0f]));
        Assert.Equal([0f, 0f, 4f, 5f], o);
        Assert.Equal(ninf, lse[0]);
        Assert.Equal(MathF.Log(2), lse[1], 6);
    }

    [Fact]
    public void WeightsFollowTheLogSumExpAndNaNPropagates()
    {
        var (o, lse) = Merge(([1], [MathF.Log(3)]), ([5], [0f]));
        Assert.Equal(2f, o[0], 5);
        Assert.Equal(MathF.Log(4), lse[0], 5);
        var (nanO, nanLse) = Merge(([1], [0f]), ([float.NaN], [0f]));
        Assert.True(float.IsNaN(nanO[0]));
        (_, nanLse) = Merge(([1], [float.NaN]), ([2], [0f]));
        Assert.True(float.IsNaN(nanLse[0]));
    }
}
