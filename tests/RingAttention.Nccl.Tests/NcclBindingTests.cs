using System.Runtime.InteropServices;
using RingAttention.Nccl;

namespace RingAttention.Nccl.Tests;

/// <summary>What of the NCCL layer can be checked without a GPU: the id's layout, argument checks, library probing.</summary>
public sealed class NcclBindingTests
{
    [Fact]
    public void UniqueIdIs128BytesAndRoundTripsThroughBytes()
    {
        Assert.Equal(NcclUniqueId.Size, Marshal.SizeOf<NcclUniqueId>());
        var bytes = Enumerable.Range(0, NcclUniqueId.Size).Select(i => (byte)(i * 7)).ToArray();
        Assert.Equal(bytes, NcclUniqueId.FromBytes(bytes).ToArray());
    }

    [Fact]
    public void AnIdOfTheWrongSizeIsRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => NcclUniqueId.FromBytes(new byte[100]));
        Assert.Contains("expected 128 bytes", error.Message);
        Assert.Contains("actual 100", error.Message);
    }

    [Fact]
    public void ARankOutsideTheCommunicatorIsRejectedBeforeNcclIsCalled()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new NcclCommunicator(2, 2, default));
        Assert.Contains("expected a value in [0, 1]", error.Message);
        Assert.Contains("actual 2", error.Message);
    }

    [Fact]
    public void ProbingReportsAVersionOrWhyNcclIsMissing()
    {
        bool available = NcclLibrary.TryGetVersion(out string version, out string reason);
        bool present = NativeLibrary.TryLoad("libnccl.so.2", out _);
        Assert.Equal(present, available);
        if (available)
        {
            Assert.Matches(@"^2\.\d+\.\d+$", version);
        }
        else
        {
            Assert.Contains("libnccl.so.2 not found", reason);
        }
    }
}
