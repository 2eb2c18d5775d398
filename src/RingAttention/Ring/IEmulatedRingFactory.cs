namespace RingAttention.Ring;

/// <summary>
/// A backend whose memory <see cref="InProcessRing"/> cannot copy (device memory) supplies the transport that
/// connects P virtual ranks on it, e.g. device-to-device copies on a stream of its own.
/// </summary>
public interface IEmulatedRingFactory
{
    /// <summary>Creates the <paramref name="size"/> endpoints of one emulated ring, in rank order.</summary>
    IRingTransport[] CreateEmulatedRing(int size);
}

/// <summary>The emulation transport for a backend: its own when it provides one, else <see cref="InProcessRing"/>.</summary>
public static class EmulatedTransports
{
    /// <summary>Creates the <paramref name="size"/> endpoints of one emulated ring on <paramref name="backend"/>.</summary>
    public static IRingTransport[] Create(Kernels.IAttentionBackend backend, int size) =>
        backend is IEmulatedRingFactory factory ? factory.CreateEmulatedRing(size) : InProcessRing.Create(size);
}
