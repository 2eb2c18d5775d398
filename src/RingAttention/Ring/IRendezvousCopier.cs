namespace RingAttention.Ring;

/// <summary>
/// How a <see cref="RingRendezvous"/> moves bytes in its endpoints' shared memory: host copies for
/// <see cref="InProcessRing"/>, device-to-device copies on a stream for a GPU's copy ring. The matching is the
/// rendezvous's; only this differs between the emulated transports.
/// </summary>
public interface IRendezvousCopier
{
    /// <summary>
    /// Copies every region of <paramref name="send"/> into the matching region of <paramref name="receive"/> (sizes
    /// already checked). Returns what the receiver's wait must still honour (a device event), or null when the copy
    /// has completed.
    /// </summary>
    object? Copy(RingMessage send, RingMessage receive);

    /// <summary>Copies <paramref name="destination"/>.Length bytes at <paramref name="source"/> to host memory, after all work ordered before.</summary>
    void Read(nint source, Span<byte> destination);

    /// <summary>Copies host bytes to <paramref name="destination"/>.</summary>
    void Write(ReadOnlySpan<byte> source, nint destination);
}
