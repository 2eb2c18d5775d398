using System.Diagnostics;
using RingAttention.Kernels;

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
    private readonly long _postedAt = Stopwatch.GetTimestamp();
    private volatile Exception? _failure;
    private int _halvesDone;
    private long _completedAt;

    internal RendezvousOperation(RingRendezvous ring, int rank, string what, (int, string)? receivedFrom, (int, string)? sentTo,
        RingRendezvous.Collective? collective = null)
    {
        (_ring, _rank, _what, _receivedFrom, _sentTo, Collective) = (ring, rank, what, receivedFrom, sentTo, collective);
    }

    /// <summary>What the copier returned for the data this rank received (a device event), once received.</summary>
    public object? Completion { get; private set; }

    internal RingRendezvous.Collective? Collective { get; }

    /// <inheritdoc />
    public IClockMark Posted => HostClock.At(_postedAt);

    /// <inheritdoc />
    public IClockMark Completed => HostClock.At(Volatile.Read(ref _completedAt));

    internal void ReceiveDone(object? completion)
    {
        Completion = completion;
        HalfDone();
        _received.Set();
    }

    internal void SendDone()
    {
        HalfDone();
        _sent.Set();
    }

    private void HalfDone()
    {
        if (Interlocked.Increment(ref _halvesDone) == 2)
        {
            Volatile.Write(ref _completedAt, Stopwatch.GetTimestamp());
        }
    }

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
