
namespace RingAttention.Ring;

/// <summary>
/// The emulation transport: P endpoints in one process. When a send and its matching receive (same step, rank r to
/// r+1) have both been posted, the poster that completes the pair copies the bytes; each side's wait returns once
/// its own halves are done. A wait that cannot complete names the peer that never posted.
/// </summary>
public sealed class InProcessRing
{
    private readonly Lock _sync = new();
    private readonly Dictionary<(int Receiver, int Step), KvMessage> _sends = new();
    private readonly Dictionary<(int Receiver, int Step), (KvMessage Buffer, Exchange Owner)> _receives = new();
    private readonly Dictionary<(int Receiver, int Step), Exchange> _senders = new();

    private InProcessRing(int size, TimeSpan timeout)
    {
        Size = size;
        Timeout = timeout;
    }

    /// <summary>Ranks in the ring.</summary>
    public int Size { get; }

    /// <summary>How long a wait may block before it fails naming the silent peer.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Creates the P endpoints of one ring.</summary>
    public static IRingTransport[] Create(int size, TimeSpan? timeout = null)
    {
        Guard.AtLeast(size, 1);
        var ring = new InProcessRing(size, timeout ?? TimeSpan.FromSeconds(60));
        return Enumerable.Range(0, size).Select(rank => (IRingTransport)new Endpoint(ring, rank)).ToArray();
    }

    private Exchange Post(int rank, KvMessage send, KvMessage receive, int step)
    {
        int next = (rank + 1) % Size, previous = (rank - 1 + Size) % Size;
        var exchange = new Exchange(rank, previous, next, step, this);
        lock (_sync)
        {
            if (_receives.Remove((next, step), out var peer))
            {
                Deliver(send, peer.Buffer, rank, next);
                exchange.SendDone();
                peer.Owner.ReceiveDone();
            }
            else
            {
                _sends[(next, step)] = send;
                _senders[(next, step)] = exchange;
            }

            if (_sends.Remove((rank, step), out var incoming))
            {
                _senders.Remove((rank, step), out var sender);
                Deliver(incoming, receive, previous, rank);
                exchange.ReceiveDone();
                sender!.SendDone();
            }
            else
            {
                _receives[(rank, step)] = (receive, exchange);
            }
        }
        return exchange;
    }

    private static unsafe void Deliver(KvMessage from, KvMessage to, int sender, int receiver)
    {
        if (from.BytesEach != to.BytesEach)
        {
            throw new InvalidOperationException(
                $"ring exchange from rank {sender} to rank {receiver}: sent {from.BytesEach} bytes per tensor, receiver expected {to.BytesEach}");
        }
        Buffer.MemoryCopy((void*)from.Key, (void*)to.Key, to.BytesEach, from.BytesEach);
        Buffer.MemoryCopy((void*)from.Value, (void*)to.Value, to.BytesEach, from.BytesEach);
    }

    private sealed class Exchange(int rank, int previous, int next, int step, InProcessRing ring) : IPendingExchange
    {
        private readonly ManualResetEventSlim _sent = new();
        private readonly ManualResetEventSlim _received = new();

        public void SendDone() => _sent.Set();

        public void ReceiveDone() => _received.Set();

        public void Wait()
        {
            if (!_received.Wait(ring.Timeout))
            {
                throw new TimeoutException($"rank {rank}, step {step}: rank {previous} did not send its K/V block within {ring.Timeout.TotalSeconds:F0} s");
            }
            if (!_sent.Wait(ring.Timeout))
            {
                throw new TimeoutException($"rank {rank}, step {step}: rank {next} did not receive the K/V block within {ring.Timeout.TotalSeconds:F0} s");
            }
        }
    }

    private sealed class Endpoint(InProcessRing ring, int rank) : IRingTransport
    {
        public string Name => "in-process";

        public int Rank => rank;

        public int Size => ring.Size;

        public IPendingExchange PostExchange(KvMessage send, KvMessage receive, int step) => ring.Post(rank, send, receive, step);

        public void Dispose()
        {
        }
    }
}
