namespace RingAttention.Nccl.Tests;

/// <summary>The placement rules as pure functions: device selection by local rank, and the verdict on every rank's claim.</summary>
public sealed class PlacementTests
{
    [Theory]
    [InlineData(0, 8, 0)]
    [InlineData(7, 8, 7)]
    [InlineData(3, 4, 3)]
    [InlineData(4, 4, null)]
    [InlineData(5, 2, null)]
    [InlineData(0, 0, null)]
    // A process that sees one GPU uses it, whatever its local rank (the launcher gave each rank its own).
    [InlineData(0, 1, 0)]
    [InlineData(5, 1, 0)]
    public void A_rank_takes_the_device_of_its_local_rank(int localRank, int devices, int? expected) =>
        Assert.Equal(expected, GpuPlacement.DeviceFor(localRank, devices));

    [Fact]
    public void Negative_ranks_or_counts_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => GpuPlacement.DeviceFor(-1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => GpuPlacement.DeviceFor(0, -1));
    }

    [Fact]
    public void Distinct_gpus_on_every_rank_are_usable_in_any_order()
    {
        var claims = new[] { Claim(2, "b", 0), Claim(0, "a", 0), Claim(1, "a", 1), Claim(3, "b", 1) };
        Assert.Equal(new GpuVerdict(GpuVerdictKind.Usable, "4 rank(s), one GPU each"), GpuPlacement.Decide(claims));
    }

    [Fact]
    public void Two_ranks_on_one_gpu_are_refused_naming_both_the_host_and_the_device()
    {
        var claims = new[] { Claim(0, "a", 0), Claim(1, "a", 1), Claim(2, "b", 0), Claim(3, "b", 0, uuid: "GPU-b-0") };
        var verdict = GpuPlacement.Decide(claims);
        Assert.Equal(GpuVerdictKind.Conflict, verdict.Kind);
        Assert.StartsWith("ranks 2 and 3 on host b would share one GPU (device 0, GPU-b-0)", verdict.Message);
    }

    [Fact]
    public void The_same_gpu_under_different_ordinals_is_still_one_gpu()
    {
        // Two ranks handed the same GPU through different CUDA_VISIBLE_DEVICES orders: ordinals differ, the UUID does not.
        var claims = new[] { Claim(0, "a", 0, uuid: "GPU-x"), Claim(1, "a", 1, uuid: "GPU-x") };
        Assert.StartsWith("ranks 0 and 1 on host a would share one GPU (device 0, 1, GPU-x)", GpuPlacement.Decide(claims).Message);
    }

    [Fact]
    public void A_local_rank_without_a_gpu_is_refused_naming_the_rank_host_and_count()
    {
        var claims = new[] { Claim(0, "a", 0), Claim(1, "a", 1), new GpuClaim(2, "a", 2, 2, null, null, null) };
        var verdict = GpuPlacement.Decide(claims);
        Assert.Equal(GpuVerdictKind.Conflict, verdict.Kind);
        Assert.StartsWith("rank 2 is local rank 2 on host a, which shows 2 CUDA device(s) to it: one GPU per rank, so start at most 2 rank(s) on that node (3 were started there)",
            verdict.Message);
    }

    [Fact]
    public void Unavailability_comes_first_and_names_the_first_rank_and_how_many_more()
    {
        var claims = new[]
        {
            new GpuClaim(3, "b", 1, 0, null, null, "no driver"), Claim(0, "a", 0), Claim(1, "a", 0),
            new GpuClaim(2, "b", 0, 0, null, null, "libnccl.so.2 not found"),
        };
        Assert.Equal(new GpuVerdict(GpuVerdictKind.Unavailable, "rank 2 on host b: libnccl.so.2 not found; 1 other rank(s) cannot use CUDA or NCCL either"),
            GpuPlacement.Decide(claims));
    }

    [Theory]
    [InlineData(22105, "2.21.5")]
    [InlineData(21403, "2.14.3")]
    [InlineData(2708, "2.7.8")]
    [InlineData(2406, "2.4.6")]
    public void Version_codes_decode_in_both_encodings(int code, string expected) =>
        Assert.Equal(expected, NcclLibrary.DecodeVersion(code).ToString(3));

    private static GpuClaim Claim(int rank, string host, int device, string? uuid = null) =>
        new(rank, host, device, 2, device, uuid ?? $"GPU-{host}-{device}", null);
}
