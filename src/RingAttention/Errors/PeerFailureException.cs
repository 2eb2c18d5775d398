namespace RingAttention;

/// <summary>
/// Another rank failed, exited or did not answer in time, so this rank cannot finish. The message names the peer and
/// what was being waited for.
/// </summary>
public sealed class PeerFailureException : RingAttentionException
{
    /// <summary>Creates the exception for the peer <paramref name="peer"/> (−1 when the failing peer is not known).</summary>
    public PeerFailureException(int peer, string message, Exception? inner = null)
        : base(message, inner)
    {
        Peer = peer;
    }

    /// <summary>The rank that failed or fell silent, or −1 when it is not known.</summary>
    public int Peer { get; }
}
