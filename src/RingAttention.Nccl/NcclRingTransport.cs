using System.Diagnostics;
using RingAttention.Cuda;
using RingAttention.Kernels;
using RingAttention.Ring;

namespace RingAttention.Nccl;

/// <summary>
/// The ring over NCCL, one rank per process and GPU: an exchange is one NCCL group (send every region to rank + 1,
/// receive every region from rank − 1; separate calls would deadlock the ring) on an exchange stream ordered against
/// the backend's compute stream by events (<see cref="ExchangeStream"/>, shared with the single-GPU copy ring).
/// Several exchanges may be in flight; NCCL has no tags, so it matches them by the order they are posted, and every
/// rank must post its exchanges (and collectives) in the same order, which the ring's schedule does. Collectives are
/// NCCL's all-reduce (in place), a group of sends to rank 0 (gather) and a one-value all-reduce (barrier), on the same
/// stream. A wait polls the operation's completion event and NCCL's asynchronous error state; an error, or an
/// operation not complete within <see cref="Timeout"/>, aborts the communicator (cancelling its kernels) and throws,
/// naming the rank and the cause. Posting can block too (NCCL connects a pair of ranks at their first exchange,
/// which needs both): a post that has not returned within the timeout ends the job through the abort action.
/// Operations mark their post and completion on the device, so the ring reports exchange and hidden time.
/// </summary>
public sealed class NcclRingTransport : IRingTransport
{
    private readonly NcclCommunicator _communicator;
    private readonly CudaBackend _backend;
    private readonly ExchangeStream _stream;
    private readonly Action<string> _abortJob;
    private readonly List<Operation> _inFlight = new();
    private BackendBuffer? _barrierValue;
    private bool _failed;
    private bool _disposed;

    /// <summary>
    /// Creates this rank's endpoint over <paramref name="communicator"/> (which it then owns) on
    /// <paramref name="backend"/>'s device, the one the communicator was created on. <paramref name="abortJob"/> ends
    /// the job with the cause it is given (print it, then <c>MPI_Abort</c>; it must not return): it is called from a
    /// timer thread when a post stays blocked inside NCCL past <paramref name="timeout"/>.
    /// </summary>
    public NcclRingTransport(NcclCommunicator communicator, CudaBackend backend, TimeSpan timeout, Action<string> abortJob)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(abortJob);
        (_communicator, _backend, Timeout, _abortJob) = (communicator, backend, TransportTimeouts.Validate(timeout), abortJob);
        _stream = new ExchangeStream(backend);
    }

    /// <inheritdoc />
    public string Name => "nccl";

    /// <inheritdoc />
    public int Rank => _communicator.Rank;

    /// <inheritdoc />
    public int Size => _communicator.Size;

    /// <summary>How long a wait may take before the communicator is aborted and the wait fails.</summary>
    public TimeSpan Timeout { get; }

    private int Next => RingNeighbours.Next(Rank, Size);

    private int Previous => RingNeighbours.Previous(Rank, Size);

    /// <inheritdoc />
    public IPendingExchange PostExchange(ExchangeId id, RingMessage send, RingMessage receive)
    {
        id.Validate();
        string silent = Previous == Next ? $"rank {Next} did not send or receive" : $"rank {Previous} did not send or rank {Next} did not receive";
        return Post(id.ToString(), silent, stream =>
        {
            // A rank may hold no rows (N < P). Its neighbour then expects zero bytes too, so both sides skip alike.
            foreach (var region in send.Regions)
            {
                if (region.Bytes > 0)
                {
                    _communicator.Send(region.Address, region.Bytes, Next, stream);
                }
            }
            foreach (var region in receive.Regions)
            {
                if (region.Bytes > 0)
                {
                    _communicator.Receive(region.Address, region.Bytes, Previous, stream);
                }
            }
        });
    }

    /// <inheritdoc />
    public IPendingExchange PostAllReduce(nint buffer, long count, ReduceOperation operation)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var reduction = operation == ReduceOperation.Max ? NcclReduction.Max : NcclReduction.Sum;
        return Post($"all-reduce ({operation}) of {count} values", "a rank did not take part",
            stream => _communicator.AllReduce(buffer, buffer, count, NcclDataType.Float32, reduction, stream));
    }

    /// <inheritdoc />
    public IPendingExchange PostGather(nint send, long bytes, nint receive)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        return Post($"gather of {bytes} bytes per rank to rank 0", "a rank did not take part", stream =>
        {
            if (bytes == 0)
            {
                return;
            }
            _communicator.Send(send, bytes, 0, stream);
            if (Rank == 0)
            {
                for (int rank = 0; rank < Size; rank++)
                {
                    _communicator.Receive(receive + (nint)(rank * bytes), bytes, rank, stream);
                }
            }
        });
    }

    /// <inheritdoc />
    public IPendingExchange PostBarrier()
    {
        _barrierValue ??= _backend.Allocate(sizeof(float));
        nint value = _barrierValue.Address;
        return Post("barrier", "a rank did not take part",
            stream => _communicator.AllReduce(value, value, 1, NcclDataType.Float32, NcclReduction.Sum, stream));
    }

    /// <summary>Destroys the communicator after a clean pass; aborts it when an operation failed or is still in flight.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (_failed || _inFlight.Count > 0)
        {
            _communicator.Abort();
        }
        else
        {
            _communicator.Dispose();
        }
        _barrierValue?.Dispose();
        _stream.Dispose();
    }

    /// <summary>Enqueues one NCCL group on the exchange stream, between a posted and a completed mark.</summary>
    private Operation Post(string what, string silent, Action<nint> enqueue)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_failed)
        {
            throw new RuntimeFailureException($"rank {Rank}, {what}: the NCCL communicator was aborted after an earlier failure");
        }
        _backend.Context.SetCurrent();
        var posted = _stream.Post();
        try
        {
            using (new Watchdog(Timeout, () => _abortJob(
                $"rank {Rank}, {what}: posting to NCCL did not return within {TransportTimeouts.Seconds(Timeout)}: " +
                (Previous == Next ? $"rank {Next}" : $"rank {Previous} or rank {Next}") +
                " did not take part (NCCL connects two ranks at their first exchange, which needs both)")))
            using (NcclGroup.Begin())
            {
                enqueue(_stream.Stream.Stream);
            }
            var operation = new Operation(this, what, silent, posted, _stream.Complete());
            _inFlight.Add(operation);
            return operation;
        }
        catch (Exception e)
        {
            posted.Dispose();
            throw new RuntimeFailureException(Abort(what, $"posting to NCCL failed: {e.Message}"), e);
        }
    }

    /// <summary>Aborts the communicator (its kernels stop, so no stream stays blocked on a lost peer) and returns the failure's message.</summary>
    private string Abort(string what, string cause)
    {
        _failed = true;
        _inFlight.Clear();
        _communicator.Abort();
        return $"rank {Rank}, {what}: {cause} (ring receiving from rank {Previous}, sending to rank {Next}); NCCL communicator aborted";
    }

    private sealed class Operation(NcclRingTransport transport, string what, string silent, CudaMark posted, CudaMark completed) : IPendingExchange
    {
        public IClockMark Posted => posted;

        public IClockMark Completed => completed;

        public void Wait()
        {
            if (!transport._inFlight.Contains(this))
            {
                throw new InvalidOperationException($"rank {transport.Rank}, {what}: not in flight (waited twice, or the transport failed)");
            }
            long deadline = transport.Timeout == System.Threading.Timeout.InfiniteTimeSpan
                ? long.MaxValue
                : Stopwatch.GetTimestamp() + (long)(transport.Timeout.TotalSeconds * Stopwatch.Frequency);
            var spinner = new SpinWait();
            while (!IsComplete())
            {
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    int peer = transport.Previous;
                    throw new PeerFailureException(peer, transport.Abort(what,
                        $"NCCL did not complete within {TransportTimeouts.Seconds(transport.Timeout)}: {silent}"));
                }
                // Poll often at first (an exchange hidden behind compute is already done), then about once a millisecond.
                spinner.SpinOnce(sleep1Threshold: 40);
            }
            transport._inFlight.Remove(this);
            transport._stream.Deliver(completed);
        }

        /// <summary>Whether the transfers completed; throws (after aborting) when NCCL or CUDA reports an error instead.</summary>
        private bool IsComplete()
        {
            try
            {
                // A peer that failed shows up as NCCL's asynchronous error while the local kernels keep waiting.
                transport._communicator.ThrowIfAsyncError();
                return completed.IsCompleted;
            }
            catch (Exception e) when (e is NcclException or Cuda.Native.CudaException)
            {
                throw new PeerFailureException(-1, transport.Abort(what, $"NCCL failed: {e.Message}"), e);
            }
        }
    }
}
