using System.Diagnostics;
using System.Runtime.InteropServices;
using RingAttention.Kernels;
using RingAttention.Ring;

namespace RingAttention.Mpi;

/// <summary>
/// The ring over MPI, one rank per process: an exchange posts one nonblocking receive per region from rank − 1 and
/// one send per region to rank + 1, each with a tag derived from the exchange's channel, step and region index, so
/// exchanges in flight together never match each other's messages. Collectives are MPI's nonblocking ones. A
/// progress thread tests posted operations while the caller computes: MPI moves large messages only when some call
/// drives it, and the thread also observes each exchange's completion time, from which the ring reports how much of
/// the exchange was hidden behind compute. A wait that does not complete within <see cref="Timeout"/> fails naming
/// the peer that did not answer. Buffers are native memory the caller keeps valid until the wait returns.
/// </summary>
public sealed class MpiRingTransport : IRingTransport
{
    /// <summary>Steps the tags tell apart: tags wrap after this many steps (far more than are ever in flight).</summary>
    private const int StepsInTags = (Communicator.MaxTag + 1) / (ExchangeId.MaxChannels * ExchangeId.MaxRegions);

    private readonly Communicator _communicator;
    private readonly Lock _sync = new();
    private readonly List<Operation> _inFlight = new();
    private readonly Thread _progress;
    private readonly SemaphoreSlim _posted = new(0);
    private volatile bool _disposed;

    /// <summary>Creates the endpoint of this process on <paramref name="communicator"/> (thread level Serialized or better).</summary>
    public MpiRingTransport(Communicator communicator, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        Timeout = TransportTimeouts.Validate(timeout);
        var environment = MpiEnvironment.Current ?? throw new InvalidOperationException("MPI is not initialised: create an MpiEnvironment first");
        if (environment.ProvidedThreadLevel < ThreadLevel.Serialized)
        {
            throw new NotSupportedException($"the MPI ring's progress thread needs MPI thread level Serialized or better; {environment.Library.Name} provides {environment.ProvidedThreadLevel}");
        }
        _communicator = communicator;
        _progress = new Thread(DriveProgress) { IsBackground = true, Name = "mpi-ring-progress" };
        _progress.Start();
    }

    /// <inheritdoc />
    public string Name => "mpi";

    /// <inheritdoc />
    public int Rank => _communicator.Rank;

    /// <inheritdoc />
    public int Size => _communicator.Size;

    /// <summary>How long a wait may block before it fails naming the silent peer.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>The tag of region <paramref name="region"/> of exchange <paramref name="id"/>.</summary>
    public static int Tag(ExchangeId id, int region) =>
        ((id.Step % StepsInTags) * ExchangeId.MaxChannels + id.Channel) * ExchangeId.MaxRegions + region;

    /// <inheritdoc />
    public IPendingExchange PostExchange(ExchangeId id, RingMessage send, RingMessage receive)
    {
        id.Validate();
        int next = RingNeighbours.Next(Rank, Size), previous = RingNeighbours.Previous(Rank, Size);
        return Post(id.ToString(), () =>
        {
            var receives = new Request[receive.Count];
            for (int i = 0; i < receive.Count; i++)
            {
                receives[i] = _communicator.ImmediateReceive(receive[i].Address, receive[i].Bytes, previous, Tag(id, i));
            }
            var sends = new Request[send.Count];
            for (int i = 0; i < send.Count; i++)
            {
                sends[i] = _communicator.ImmediateSend(send[i].Address, send[i].Bytes, next, Tag(id, i));
            }
            return (receives, sends);
        }, (previous, "send its message"), (next, "receive the message"));
    }

    /// <inheritdoc />
    public unsafe IPendingExchange PostAllReduce(nint buffer, long count, ReduceOperation operation)
    {
        Guard(count >= 0, nameof(count), "at least 0", count);
        // MPI_IN_PLACE differs between the MPI families: reduce from a copy instead, freed when the operation finishes.
        nint copy = (nint)NativeMemory.Alloc((nuint)Math.Max(1, count * sizeof(float)));
        Buffer.MemoryCopy((void*)buffer, (void*)copy, count * sizeof(float), count * sizeof(float));
        var reduction = operation == ReduceOperation.Max ? ReductionOperation.Max : ReductionOperation.Sum;
        return Post($"all-reduce ({operation}) of {count} values",
            () => ([_communicator.ImmediateAllreduceFloats(copy, buffer, count, reduction)], []), null, null,
            () => NativeMemory.Free((void*)copy));
    }

    /// <inheritdoc />
    public IPendingExchange PostGather(nint send, long bytes, nint receive)
    {
        Guard(bytes >= 0, nameof(bytes), "at least 0", bytes);
        return Post($"gather of {bytes} bytes per rank to rank 0", () => ([_communicator.ImmediateGather(send, bytes, receive, root: 0)], []), null, null);
    }

    /// <inheritdoc />
    public IPendingExchange PostBarrier() => Post("barrier", () => ([_communicator.ImmediateBarrier()], []), null, null);

    /// <inheritdoc />
    public void Dispose()
    {
        _disposed = true;
        _posted.Release();
        _progress.Join();
        _posted.Dispose();
    }

    private Operation Post(string what, Func<(Request[] Receives, Request[] Sends)> start, (int, string)? receivedFrom, (int, string)? sentTo,
        Action? finished = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Operation operation;
        lock (_sync)
        {
            // Serialised with the progress thread's tests: correct at MPI_THREAD_SERIALIZED too.
            var (receives, sends) = start();
            operation = new Operation(this, what, receives, sends, receivedFrom, sentTo, finished);
            _inFlight.Add(operation);
        }
        _posted.Release();
        return operation;
    }

    private static void Guard(bool condition, string name, string expected, object actual)
    {
        if (!condition)
        {
            throw new ArgumentOutOfRangeException(name, $"{name}: expected {expected}, actual {actual}.");
        }
    }

    private void DriveProgress()
    {
        var spinner = new SpinWait();
        while (!_disposed)
        {
            bool idle;
            lock (_sync)
            {
                for (int i = _inFlight.Count - 1; i >= 0; i--)
                {
                    if (_inFlight[i].Advance())
                    {
                        _inFlight.RemoveAt(i);
                    }
                }
                idle = _inFlight.Count == 0;
            }
            if (idle)
            {
                _posted.Wait();
                spinner.Reset();
            }
            else
            {
                // Poll often at first (small messages complete in microseconds), then about once a millisecond,
                // which leaves the cores to the kernel while a large block streams.
                spinner.SpinOnce(sleep1Threshold: 40);
            }
        }
    }

    /// <summary>A posted exchange or collective: its receive-side and send-side requests.</summary>
    private sealed class Operation(MpiRingTransport transport, string what, Request[] receives, Request[] sends,
        (int Peer, string Awaited)? receivedFrom, (int Peer, string Awaited)? sentTo, Action? finished) : IPendingExchange
    {
        private readonly ManualResetEventSlim _done = new();
        private readonly long _postedAt = Stopwatch.GetTimestamp();
        private Exception? _failure;
        private long _completedAt;

        public IClockMark Posted => HostClock.At(_postedAt);

        /// <summary>Observed by the progress thread, so the ring can tell how much of the exchange ran while it computed.</summary>
        public IClockMark Completed => HostClock.At(_completedAt);

        /// <summary>Called by the progress thread under the transport's lock; true once finished (completed or failed).</summary>
        public bool Advance()
        {
            try
            {
                if (!receives.All(r => r.Test()) | !sends.All(s => s.Test()))
                {
                    return false;
                }
                _completedAt = Stopwatch.GetTimestamp();
            }
            catch (Exception e)
            {
                _failure = e;
            }
            finished?.Invoke();
            _done.Set();
            return true;
        }

        public void Wait()
        {
            if (!_done.Wait(transport.Timeout))
            {
                lock (transport._sync)
                {
                    if (!_done.IsSet)
                    {
                        // A collective cannot tell which rank is missing: −1, "a rank".
                        var (peer, awaited) = receives.All(r => r.IsCompleted) && sentTo is not null ? sentTo.Value
                            : receivedFrom ?? (-1, "take part");
                        throw peer >= 0
                            ? TransportTimeouts.PeerDidNotAnswer(transport.Rank, what, peer, awaited, transport.Timeout)
                            : new PeerFailureException(-1, $"rank {transport.Rank}, {what}: some rank did not take part within {TransportTimeouts.Seconds(transport.Timeout)}");
                    }
                }
            }
            if (_failure is not null)
            {
                throw new RuntimeFailureException(
                    $"rank {transport.Rank}, {what} (from rank {RingNeighbours.Previous(transport.Rank, transport.Size)}, to rank {RingNeighbours.Next(transport.Rank, transport.Size)}) failed: {_failure.Message}", _failure);
            }
        }
    }
}
