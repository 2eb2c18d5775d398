namespace RingAttention.Ring;

/// <summary>
/// One rank's posted exchange or collective in a <see cref="RingRendezvous"/>. It completes when its receive has
/// been copied in and its send copied out (a collective: when every rank posted and the collective ran).
/// </summary>
public sealed class RendezvousOperation : IPendingExchange
{
    private readonly RingRendezvous _ring;
    private readonly int _rank;
    private readonly string _what;
    private readonly (int Peer, string Awaited)? _receivedFrom;
    private readonly (int Peer, string Awaited)? _sentTo;
    private readonly ManualResetEventSlim _received = new();
    private readonly ManualResetEventSlim _sent = new();
    private volatile Exception? _failure;

    internal RendezvousOperation(RingRendezvous ring, int rank, string what, (int, string)? receivedFrom, (int, string)? sentTo,
        RingRendezvous.Collective? collective = null)
    {
        (_ring, _rank, _what, _receivedFrom, _sentTo, Collective) = (ring, rank, what, receivedFrom, sentTo, collective);
    }

    /// <summary>What the copier returned for the data this rank received (a device event), once received.</summary>
    public object? Completion { get; private set; }

    internal RingRendezvous.Collective? Collective { get; }

    internal void ReceiveDone(object? completion)
    {
        Completion = completion;
        _received.Set();
    }

    internal void SendDone() => _sent.Set();

    internal void Fail(Exception failure)
    {
        _failure = failure;
        _received.Set();
        _sent.Set();
    }

    /// <inheritdoc />
    public void Wait()
    {
        if (!_received.Wait(_ring.Timeout))
        {
            var (peer, awaited) = _receivedFrom ?? (_ring.MissingPeer(this), "post its part");
            throw TransportTimeouts.PeerDidNotAnswer(_rank, _what, peer, awaited, _ring.Timeout);
        }
        if (!_sent.Wait(_ring.Timeout))
        {
            var (peer, awaited) = _sentTo!.Value;
            throw TransportTimeouts.PeerDidNotAnswer(_rank, _what, peer, awaited, _ring.Timeout);
        }
        if (_failure is { } failure)
        {
            throw new InvalidOperationException($"rank {_rank}, {_what}: {failure.Message}", failure);
        }
    }
}
