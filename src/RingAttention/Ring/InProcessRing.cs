namespace RingAttention.Ring;

/// <summary>
/// The emulation transport for host memory: P endpoints in one process over a <see cref="RingRendezvous"/>, whose
/// poster that completes a pair copies the bytes with memcpy. A wait that cannot complete names the peer that never posted.
/// </summary>
public static class InProcessRing
{
    /// <summary>Creates the P endpoints of one ring; a wait may block up to <paramref name="timeout"/> (default 60 s).</summary>
    public static IRingTransport[] Create(int size, TimeSpan? timeout = null)
    {
        var ring = new RingRendezvous(size, timeout ?? TransportTimeouts.Default, new HostCopier());
        return Enumerable.Range(0, size).Select(rank => (IRingTransport)new RendezvousEndpoint("in-process", ring, rank)).ToArray();
    }

    private sealed unsafe class HostCopier : IRendezvousCopier
    {
        public object? Copy(RingMessage send, RingMessage receive)
        {
            for (int i = 0; i < send.Count; i++)
            {
                Buffer.MemoryCopy((void*)send[i].Address, (void*)receive[i].Address, receive[i].Bytes, send[i].Bytes);
            }
            return null;
        }

        public void Read(nint source, Span<byte> destination) => new ReadOnlySpan<byte>((void*)source, destination.Length).CopyTo(destination);

        public void Write(ReadOnlySpan<byte> source, nint destination) => source.CopyTo(new Span<byte>((void*)destination, source.Length));
    }
}
