using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Ring;
using RingAttention.TestSupport;

namespace RingAttention.Cuda.Tests;

/// <summary>
/// The path inputs take to a device backend (IsHostMemory false: staged on the host, then uploaded), exercised on the
/// CPU: shards of every size, including the empty ones of ranks that hold no rows when N &lt; P, arrive intact.
/// </summary>
public sealed class DeviceUploadTests
{
    [Fact]
    public void ShardLoaderUploadsEveryRanksShardToADeviceBackendIncludingEmptyOnes()
    {
        var options = new AttentionOptions { Batch = 2, Heads = 2, KvHeads = 1, HeadDim = 8, ElementType = ElementType.BFloat16 };
        const int n = 3;
        var source = new CounterRandomSource(5, options, n);
        var host = new CpuBackend(threads: 1);
        using var device = new DeviceLikeBackend(host);  // owns and disposes host
        var layout = SequenceLayouts.Create(LayoutKind.Contiguous, n, 5);
        Assert.Contains(0, Enumerable.Range(0, 5).Select(layout.LocalLength));
        for (int rank = 0; rank < layout.Ranks; rank++)
        {
            using var expected = RankTensors.Allocate(host, options, layout.LocalLength(rank));
            using var actual = RankTensors.Allocate(device, options, layout.LocalLength(rank));
            ShardLoader.Load(source, options, layout, rank, host, expected);
            ShardLoader.Load(source, options, layout, rank, device, actual);
            foreach (var (want, got) in new[] { (expected.Q, actual.Q), (expected.K, actual.K), (expected.V, actual.V) })
            {
                Assert.Equal(((HostBuffer)want).AsSpan<byte>().ToArray(), ((HostBuffer)got).AsSpan<byte>().ToArray());
            }
        }
        Assert.True(device.Uploads > 0);
    }

    /// <summary>Host memory that claims to be device memory, so callers take the staging-and-upload path.</summary>
    private sealed class DeviceLikeBackend(CpuBackend host) : DelegatingBackend(host)
    {
        public int Uploads { get; private set; }

        public override string Name => "device-like";

        public override string Description => "CPU memory behind the device-memory interface";

        public override bool IsHostMemory => false;

        public override void Upload(ReadOnlySpan<byte> source, BackendBuffer destination, long offset = 0)
        {
            Uploads++;
            base.Upload(source, destination, offset);
        }
    }
}
