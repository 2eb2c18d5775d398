using RingAttention.Ring;
using RingAttention.TestSupport;

namespace RingAttention.Tests;

/// <summary>
/// The transport contract on the in-process ring (MPI runs the same checks in its probe): messages of several regions
/// of mixed sizes, more than one exchange in flight, the collectives, and the failures a rendezvous must report.
/// </summary>
public sealed class TransportTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void AThreeRegionMessageOfMixedSizesMovesWithTwoExchangesInFlight(int ranks)
    {
        var endpoints = InProcessRing.Create(ranks);
        TransportContract.MixedRegionsWithTwoExchangesInFlight(endpoints);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void CollectivesAllReduceGatherAndSynchroniseEveryRank(int ranks)
    {
        TransportContract.Collectives(InProcessRing.Create(ranks));
    }

    [Fact]
    public void CollectivesWorkWithEachRankOnItsOwnThread()
    {
        var endpoints = InProcessRing.Create(4);
        var failures = new System.Collections.Concurrent.ConcurrentBag<Exception>();
        var threads = endpoints.Select(endpoint => new Thread(() =>
        {
            try
            {
                TransportContract.Collectives([endpoint]);
            }
            catch (Exception e)
            {
                failures.Add(e);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        Assert.All(threads, t => Assert.True(t.Join(TimeSpan.FromSeconds(60))));
        Assert.Empty(failures);
    }

    [Fact]
    public unsafe void AReceiveThatDoesNotMatchTheSendFailsBothSides()
    {
        var endpoints = InProcessRing.Create(2, TimeSpan.FromSeconds(5));
        var bytes = new byte[64];
        fixed (byte* p = bytes)
        {
            var small = new RingMessage(new Region((nint)p, 8), new Region((nint)p + 8, 8));
            var large = new RingMessage(new Region((nint)p + 16, 8), new Region((nint)p + 24, 16));
            var first = endpoints[0].PostExchange(ExchangeId.ForStep(0), small, small);
            var error = Assert.Throws<InvalidOperationException>(() => endpoints[1].PostExchange(ExchangeId.ForStep(0), small, large));
            Assert.Contains("region 1 sent 8 bytes, the receiver expected 16", error.Message);
            Assert.Contains("region 1 sent 8 bytes", Assert.Throws<InvalidOperationException>(first.Wait).Message);
        }
    }

    [Fact]
    public void ACollectiveARankNeverPostsFailsNamingIt()
    {
        var endpoints = InProcessRing.Create(3, TimeSpan.FromMilliseconds(200));
        endpoints[0].PostBarrier();
        var pending = endpoints[2].PostBarrier();
        var error = Assert.Throws<PeerFailureException>(pending.Wait);
        Assert.Equal(1, error.Peer);
        Assert.Contains("rank 2, collective 0 (barrier): rank 1 did not post its part within 200 ms", error.Message);
    }

    [Fact]
    public void ExchangeIdsOutsideTheChannelRangeAreRefused()
    {
        var endpoint = InProcessRing.Create(1)[0];
        var message = new RingMessage(new Region(0, 0));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => endpoint.PostExchange(new ExchangeId(ExchangeId.MaxChannels, 0), message, message));
        Assert.Contains("id.Channel", error.Message);
    }
}
