using RingAttention.Layouts;

namespace RingAttention.Tests;

public sealed class LayoutTests
{
    public static TheoryData<LayoutKind, int, int> AwkwardSizes()
    {
        var data = new TheoryData<LayoutKind, int, int>();
        foreach (var kind in Enum.GetValues<LayoutKind>())
        {
            foreach (int n in new[] { 1, 2, 5, 7, 16, 100, 1001 })
            {
                foreach (int p in new[] { 1, 2, 3, 4, 8, 13 })
                {
                    data.Add(kind, n, p);
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(AwkwardSizes))]
    public void EveryPositionLivesOnExactlyOneRankInIncreasingOrder(LayoutKind kind, int n, int p)
    {
        var layout = SequenceLayouts.Create(kind, n, p);
        var seen = new int[n];
        int total = 0;
        for (int rank = 0; rank < p; rank++)
        {
            int local = layout.LocalLength(rank);
            total += local;
            int previous = -1;
            for (int i = 0; i < local; i++)
            {
                int position = layout.GlobalPosition(rank, i);
                Assert.True(position > previous, $"{layout}: rank {rank} row {i} at {position} after {previous}");
                previous = position;
                seen[position]++;
                Assert.Equal((rank, i), layout.Locate(position));
            }
        }
        Assert.Equal(n, total);
        Assert.All(seen, count => Assert.Equal(1, count));
    }

    [Theory]
    [MemberData(nameof(AwkwardSizes))]
    public void ShardThenUnshardRestoresTheTensor(LayoutKind kind, int n, int p)
    {
        const int batch = 2, width = 3;
        var layout = SequenceLayouts.Create(kind, n, p);
        var full = Enumerable.Range(0, batch * n * width).Select(i => (float)i).ToArray();
        var restored = new float[full.Length];
        for (int rank = 0; rank < p; rank++)
        {
            var shard = new float[batch * layout.LocalLength(rank) * width];
            layout.Shard(rank, full, shard, batch, width);
            layout.Unshard(rank, shard, restored, batch, width);
        }
        Assert.Equal(full, restored);
    }

    [Fact]
    public void ZigzagRankHoldsChunkRThenChunkTwoPMinusOneMinusR()
    {
        var layout = new ZigzagLayout(16, 4);
        Assert.Equal([0, 1, 14, 15], Positions(layout, 0));
        Assert.Equal([2, 3, 12, 13], Positions(layout, 1));
        Assert.Equal([6, 7, 8, 9], Positions(layout, 3));
    }

    [Fact]
    public void StripedIsRoundRobinAndContiguousIsBalanced()
    {
        Assert.Equal([1, 4, 7], Positions(new StripedLayout(9, 3), 1));
        var contiguous = new ContiguousLayout(10, 4);
        Assert.Equal([3, 3, 2, 2], Enumerable.Range(0, 4).Select(contiguous.LocalLength));
        Assert.Equal([3, 4, 5], Positions(contiguous, 1));
    }

    [Fact]
    public void MoreRanksThanTokensLeavesSomeRanksEmpty()
    {
        foreach (var kind in Enum.GetValues<LayoutKind>())
        {
            var layout = SequenceLayouts.Create(kind, 3, 8);
            Assert.Equal(3, Enumerable.Range(0, 8).Sum(layout.LocalLength));
            Assert.Contains(0, Enumerable.Range(0, 8).Select(layout.LocalLength));
            Assert.Empty(layout.Segments(Enumerable.Range(0, 8).First(r => layout.LocalLength(r) == 0)));
        }
    }

    [Theory]
    [InlineData(0, 1, "sequenceLength")]
    [InlineData(-5, 1, "sequenceLength")]
    [InlineData(4, 0, "ranks")]
    public void InvalidSizesNameTheArgument(int n, int p, string argument)
    {
        foreach (var kind in Enum.GetValues<LayoutKind>())
        {
            var error = Assert.ThrowsAny<ArgumentException>(() => SequenceLayouts.Create(kind, n, p));
            Assert.Equal(argument, error.ParamName);
            Assert.Contains("expected at least 1", error.Message);
            Assert.Contains($"actual {(argument == "ranks" ? p : n)}", error.Message);
        }
    }

    [Fact]
    public void OutOfRangeQueriesAreRejected()
    {
        var layout = new ZigzagLayout(10, 2);
        Assert.ThrowsAny<ArgumentException>(() => layout.Locate(10));
        Assert.ThrowsAny<ArgumentException>(() => layout.Segments(2));
        Assert.ThrowsAny<ArgumentException>(() => layout.GlobalPosition(0, layout.LocalLength(0)));
        var error = Assert.ThrowsAny<ArgumentException>(() => layout.Shard(0, new float[7], new float[5], 1, 1));
        Assert.Contains("expected 10 elements", error.Message);
        Assert.Contains("actual 7", error.Message);
    }

    private static int[] Positions(ISequenceLayout layout, int rank) =>
        Enumerable.Range(0, layout.LocalLength(rank)).Select(i => layout.GlobalPosition(rank, i)).ToArray();
}
