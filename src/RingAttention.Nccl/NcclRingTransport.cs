using System.Diagnostics;
using RingAttention.Cuda;
using RingAttention.Kernels;
using RingAttention.Ring;

namespace RingAttention.Nccl;

/// <summary>
/// The ring over NCCL, one rank per process and GPU: an exchange is one NCCL group (send K and V to rank + 1,
/// receive K and V from rank − 1; separate calls would deadlock the ring) on an exchange stream ordered against
/// the backend's compute stream by events (<see cref="ExchangeStream"/>, shared with the single-GPU copy ring). The
/// ring's double buffering and schedule are <see cref="RingRank"/>'s, as for every transport. A wait polls the
/// exchange's completion event and NCCL's asynchronous error state; an error, or an exchange not complete within
/// <see cref="Timeout"/>, aborts the communicator (cancelling its kernels) and throws, naming the rank and the cause.
/// Posting can block too (NCCL connects a pair of ranks at their first exchange, which needs both): a post that has
/// not returned within the timeout ends the job through the abort action. Exchanges mark their post and completion
/// on the device, so the ring reports exchange and hidden time.
/// </summary>
public sealed class NcclRingTransport : IRingTransport
{
    private readonly NcclCommunicator _communicator;
    private readonly CudaBackend _backend;
    private readonly ExchangeStream _stream;
    private readonly Action<string> _abortJob;
    private Exchange? _inFlight;
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
        if (timeout <= TimeSpan.Zero && timeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), $"timeout: expected a positive time, actual {timeout}.");
        }
        (_communicator, _backend, Timeout, _abortJob) = (communicator, backend, timeout, abortJob);
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

    private int Next => (Rank + 1) % Size;

    private int Previous => (Rank - 1 + Size) % Size;

    /// <inheritdoc />
    public IPendingExchange PostExchange(KvMessage send, KvMessage receive, int step)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        if (_failed)
        {
            throw new InvalidOperationException($"rank {Rank}, step {step}: the NCCL communicator was aborted after an earlier failure");
        }
        if (_inFlight is not null)
        {
            throw new InvalidOperationException($"rank {Rank}, step {step}: posted while the exchange of step {_inFlight.Step} is still in flight (wait for it first)");
        }
        _backend.Context.SetCurrent();
        var posted = _stream.Post();
        try
        {
            nint stream = _stream.Stream.Stream;
            using (new Watchdog(Timeout, () => _abortJob(
                $"rank {Rank}, step {step}: posting the NCCL exchange did not return within {Timeout.TotalSeconds:F0} s: " +
                (Previous == Next ? $"rank {Next}" : $"rank {Previous} or rank {Next}") +
                " did not take part (NCCL connects two ranks at their first exchange, which needs both)")))
            using (NcclGroup.Begin())
            {
                // A rank may hold no rows (N < P). Its neighbour then expects zero bytes too, so both sides skip alike.
                if (send.BytesEach > 0)
                {
                    _communicator.Send(send.Key, send.BytesEach, Next, stream);
                    _communicator.Send(send.Value, send.BytesEach, Next, stream);
                }
                if (receive.BytesEach > 0)
                {
                    _communicator.Receive(receive.Key, receive.BytesEach, Previous, stream);
                    _communicator.Receive(receive.Value, receive.BytesEach, Previous, stream);
                }
            }
            _inFlight = new Exchange(this, step, posted, _stream.Complete());
            return _inFlight;
        }
        catch (Exception e)
        {
            posted.Dispose();
            throw new InvalidOperationException(Abort(step, $"posting the NCCL exchange failed: {e.Message}"), e);
        }
    }

    /// <summary>Destroys the communicator after a clean pass; aborts it when an exchange failed or is still in flight.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (_failed || _inFlight is not null)
        {
            _communicator.Abort();
        }
        else
        {
            _communicator.Dispose();
        }
        _stream.Dispose();
    }

    /// <summary>Aborts the communicator (its kernels stop, so no stream stays blocked on a lost peer) and returns the failure's message.</summary>
    private string Abort(int step, string cause)
    {
        _failed = true;
        _inFlight = null;
        _communicator.Abort();
        return $"rank {Rank}, step {step}: {cause} (exchange receiving from rank {Previous}, sending to rank {Next}); NCCL communicator aborted";
    }

    private sealed class Exchange(NcclRingTransport transport, int step, CudaMark posted, CudaMark completed) : IDeviceTimedExchange
    {
        public int Step => step;

        public IDeviceMark Posted => posted;

        public IDeviceMark Completed => completed;

        public void Wait()
        {
            if (!ReferenceEquals(transport._inFlight, this))
            {
                throw new InvalidOperationException($"rank {transport.Rank}, step {step}: the exchange is not in flight (waited twice, or the transport failed)");
            }
            long deadline = transport.Timeout == System.Threading.Timeout.InfiniteTimeSpan
                ? long.MaxValue
                : Stopwatch.GetTimestamp() + (long)(transport.Timeout.TotalSeconds * Stopwatch.Frequency);
            var spinner = new SpinWait();
            while (!IsComplete())
            {
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    throw new TimeoutException(transport.Abort(step,
                        $"the NCCL exchange did not complete within {transport.Timeout.TotalSeconds:F0} s: " +
                        (transport.Previous == transport.Next
                            ? $"rank {transport.Next} did not send or receive"
                            : $"rank {transport.Previous} did not send or rank {transport.Next} did not receive")));
                }
                // Poll often at first (an exchange hidden behind compute is already done), then about once a millisecond.
                spinner.SpinOnce(sleep1Threshold: 40);
            }
            transport._inFlight = null;
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
                throw new InvalidOperationException(transport.Abort(step, $"the NCCL exchange failed: {e.Message}"), e);
            }
        }
    }
}
