using RingAttention.Decode;

namespace RingAttention.Tests.Decode;

public sealed class AppendPlacementTests
{
    [Theory]
    [InlineData(1, 1, 0)]
    [InlineData(3, 4, 10)]
    [InlineData(8, 64, 1000)]
    [InlineData(5, 1, 7)]
    public void BlocksGoRoundRobinAndRanksStayWithinOneBlock(int ranks, int block, int prefill)
    {
        var placement = new AppendPlacement(ranks, block, prefill);
        var counts = new int[ranks];
        for (int appended = 0; appended < 7 * block * ranks + 3; appended++)
        {
            int position = prefill + appended;
            int owner = placement.RankOf(position);
            Assert.Equal(appended / block % ranks, owner);
            // A token never moves: the owner depends on the position only, and a block's tokens share it.
            Assert.Equal(owner, placement.RankOf(prefill + appended / block * block));
            counts[owner]++;
            Assert.True(counts.Max() - counts.Min() <= block, $"after {appended + 1} appends: counts {string.Join(",", counts)}");
            for (int rank = 0; rank < ranks; rank++)
            {
                Assert.Equal(counts[rank], placement.AppendedOn(rank, appended + 1));
            }
        }
    }

    [Fact]
    public void PositionsInsideThePrefillHaveNoAppendOwner()
    {
        var placement = new AppendPlacement(2, 4, 10);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => placement.RankOf(9));
        Assert.Equal("position", e.ParamName);
    }

    [Fact]
    public void BadArgumentsAreNamed()
    {
        Assert.Equal("ranks", Assert.Throws<ArgumentOutOfRangeException>(() => new AppendPlacement(0, 1, 0)).ParamName);
        Assert.Equal("blockSize", Assert.Throws<ArgumentOutOfRangeException>(() => new AppendPlacement(1, 0, 0)).ParamName);
    }
}
