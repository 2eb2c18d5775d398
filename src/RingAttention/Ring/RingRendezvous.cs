using System.Runtime.InteropServices;

namespace RingAttention.Ring;

/// <summary>
/// The matching core of the emulated transports (P endpoints in one process): a send and the receive it meets
/// (rank r to r + 1, same <see cref="ExchangeId"/>) are paired whichever is posted first, and the poster that completes
/// the pair copies the bytes through the <see cref="IRendezvousCopier"/>; a collective runs when the last rank posts
/// it (collectives pair by the order each rank posts them). Waits block up to <see cref="Timeout"/> and then fail
/// naming the peer that never posted.
/// </summary>
public sealed class RingRendezvous
{
    private readonly Lock _sync = new();
    private readonly IRendezvousCopier _copier;
    private readonly Dictionary<(int Receiver, ExchangeId Id), (RingMessage Message, RendezvousOperation Owner)> _sends = new();
    private readonly Dictionary<(int Receiver, ExchangeId Id), (RingMessage Message, RendezvousOperation Owner)> _receives = new();
    private readonly Dictionary<long, Collective> _collectives = new();
    private readonly long[] _collectivesPosted;

    /// <summary>Creates the core of a ring of <paramref name="size"/> endpoints.</summary>
    public RingRendezvous(int size, TimeSpan timeout, IRendezvousCopier copier)
    {
        Guard.AtLeast(size, 1);
        ArgumentNullException.ThrowIfNull(copier);
        Size = size;
        Timeout = TransportTimeouts.Validate(timeout);
        _copier = copier;
        _collectivesPosted = new long[size];
    }

    /// <summary>Ranks in the ring.</summary>
    public int Size { get; }

    /// <summary>How long a wait may block before it fails naming the silent peer.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Posts rank <paramref name="rank"/>'s exchange <paramref name="id"/>.</summary>
    public RendezvousOperation PostExchange(int rank, ExchangeId id, RingMessage send, RingMessage receive)
    {
        Guard.InRange(rank, 0, Size - 1);
        id.Validate();
        int next = RingNeighbours.Next(rank, Size), previous = RingNeighbours.Previous(rank, Size);
        var operation = new RendezvousOperation(this, rank, id.ToString(),
            receivedFrom: (previous, "send its message"), sentTo: (next, "receive the message"));
        lock (_sync)
        {
            if (_sends.ContainsKey((next, id)) || _receives.ContainsKey((rank, id)))
            {
                throw new InvalidOperationException($"rank {rank}, {id}: posted twice while the first is still in flight");
            }
            if (send.Count == 0)
            {
                // Nothing goes out on this link: the next rank knows it from the same global facts and posts no receive.
                operation.SendDone();
            }
            else if (_receives.Remove((next, id), out var peer))
            {
                Deliver(send, peer.Message, rank, next, id, operation, peer.Owner);
            }
            else
            {
                _sends[(next, id)] = (send, operation);
            }
            if (receive.Count == 0)
            {
                operation.ReceiveDone(null);
            }
            else if (_sends.Remove((rank, id), out var incoming))
            {
                Deliver(incoming.Message, receive, previous, rank, id, incoming.Owner, operation);
            }
            else
            {
                _receives[(rank, id)] = (receive, operation);
            }
        }
        return operation;
    }

    /// <summary>Posts rank <paramref name="rank"/>'s part of an all-reduce of <paramref name="count"/> fp32 values.</summary>
    public RendezvousOperation PostAllReduce(int rank, nint buffer, long count, ReduceOperation operation)
    {
        Guard.AtLeast(count, 0);
        return PostCollective(rank, CollectiveKind.AllReduce, operation, $"all-reduce ({operation}) of {count} values", new Part(buffer, count, 0));
    }

    /// <summary>Posts rank <paramref name="rank"/>'s part of a gather of <paramref name="bytes"/> bytes per rank to rank 0.</summary>
    public RendezvousOperation PostGather(int rank, nint send, long bytes, nint receive)
    {
        Guard.AtLeast(bytes, 0);
        return PostCollective(rank, CollectiveKind.Gather, default, $"gather of {bytes} bytes per rank to rank 0", new Part(send, bytes, receive));
    }

    /// <summary>Posts rank <paramref name="rank"/>'s part of a barrier.</summary>
    public RendezvousOperation PostBarrier(int rank) => PostCollective(rank, CollectiveKind.Barrier, default, "barrier", default);

    private RendezvousOperation PostCollective(int rank, CollectiveKind kind, ReduceOperation reduction, string what, Part part)
    {
        Guard.InRange(rank, 0, Size - 1);
        lock (_sync)
        {
            long sequence = _collectivesPosted[rank]++;
            if (!_collectives.TryGetValue(sequence, out var collective))
            {
                collective = new Collective(kind, reduction, what, new Part[Size], new RendezvousOperation?[Size]);
                _collectives[sequence] = collective;
            }
            var operation = new RendezvousOperation(this, rank, $"collective {sequence} ({what})", receivedFrom: null, sentTo: null, collective);
            if (collective.What != what)
            {
                var failure = new InvalidOperationException($"rank {rank}, collective {sequence}: posted the {what}, other ranks posted the {collective.What}");
                operation.Fail(failure);
                throw failure;
            }
            collective.Parts[rank] = part;
            collective.Operations[rank] = operation;
            if (++collective.Arrived == Size)
            {
                _collectives.Remove(sequence);
                Run(collective);
            }
            return operation;
        }
    }

    private void Run(Collective collective)
    {
        Exception? failure = null;
        try
        {
            switch (collective.Kind)
            {
                case CollectiveKind.AllReduce:
                    AllReduce(collective);
                    break;
                case CollectiveKind.Gather:
                    Gather(collective);
                    break;
            }
        }
        catch (Exception e)
        {
            failure = e;
        }
        foreach (var operation in collective.Operations)
        {
            if (failure is null)
            {
                operation!.ReceiveDone(null);
                operation.SendDone();
            }
            else
            {
                operation!.Fail(failure);
            }
        }
    }

    private void AllReduce(Collective collective)
    {
        long count = collective.Parts[0].Count;
        bool max = collective.Reduction == ReduceOperation.Max;
        var result = new float[count];
        var values = new float[count];
        // Ranks combine in rank order, so every run (and every rank) gets the same bits.
        for (int rank = 0; rank < Size; rank++)
        {
            _copier.Read(collective.Parts[rank].Address, MemoryMarshal.AsBytes(rank == 0 ? result.AsSpan() : values.AsSpan()));
            if (rank > 0)
            {
                for (long i = 0; i < count; i++)
                {
                    result[i] = max ? MathF.Max(result[i], values[i]) : result[i] + values[i];
                }
            }
        }
        foreach (var part in collective.Parts)
        {
            _copier.Write(MemoryMarshal.AsBytes(result.AsSpan()), part.Address);
        }
    }

    private void Gather(Collective collective)
    {
        long bytes = collective.Parts[0].Count;
        var staging = new byte[bytes];
        for (int rank = 0; rank < Size; rank++)
        {
            _copier.Read(collective.Parts[rank].Address, staging);
            _copier.Write(staging, collective.Parts[0].Receive + (nint)(rank * bytes));
        }
    }

    private void Deliver(RingMessage from, RingMessage to, int sender, int receiver, ExchangeId id, RendezvousOperation senderOperation, RendezvousOperation receiverOperation)
    {
        try
        {
            RingMessage.CheckMatch(from, to, $"exchange {id} from rank {sender} to rank {receiver}");
            object? completion = _copier.Copy(from, to);
            receiverOperation.ReceiveDone(completion);
            senderOperation.SendDone();
        }
        catch (Exception e)
        {
            // Both sides learn of it: the poster here, the other one at its wait.
            receiverOperation.Fail(e);
            senderOperation.Fail(e);
            throw;
        }
    }

    /// <summary>The rank whose part of <paramref name="operation"/>'s collective is still missing (−1 if none).</summary>
    internal int MissingPeer(RendezvousOperation operation)
    {
        lock (_sync)
        {
            return operation.Collective is { } collective ? Array.FindIndex(collective.Operations, o => o is null) : -1;
        }
    }

    /// <summary>One rank's arguments to a collective.</summary>
    internal readonly record struct Part(nint Address, long Count, nint Receive);

    /// <summary>The collectives a rendezvous runs.</summary>
    internal enum CollectiveKind
    {
        AllReduce,
        Gather,
        Barrier,
    }

    /// <summary>A collective being posted: what it is, every rank's part and operation, and how many have arrived.</summary>
    internal sealed class Collective(CollectiveKind kind, ReduceOperation reduction, string what, Part[] parts, RendezvousOperation?[] operations)
    {
        public CollectiveKind Kind => kind;

        public ReduceOperation Reduction => reduction;

        public string What => what;

        public Part[] Parts => parts;

        public RendezvousOperation?[] Operations => operations;

        public int Arrived { get; set; }
    }
}
