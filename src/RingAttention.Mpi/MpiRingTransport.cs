using System.Diagnostics;
using RingAttention.Ring;

namespace RingAttention.Mpi;

/// <summary>
/// The ring over MPI, one rank per process: an exchange posts nonblocking receives of K and V from rank − 1 and
/// sends of this rank's block to rank + 1 (tags derived from the step, so exchanges of different steps never
/// match). A progress thread tests posted exchanges while the caller computes: MPI moves large messages only when
/// some call drives it, and the thread also observes each exchange's completion time, from which the ring reports
/// how much of the exchange was hidden behind compute. A wait that does not complete within <see cref="Timeout"/>
/// fails naming the peer that did not answer. Buffers are native memory the caller keeps valid until the wait returns.
/// </summary>
public sealed class MpiRingTransport : IRingTransport
{
    private readonly Communicator _communicator;
    private readonly Lock _sync = new();
    private readonly List<Exchange> _inFlight = new();
    private readonly Thread _progress;
    private readonly SemaphoreSlim _posted = new(0);
    private volatile bool _disposed;

    /// <summary>Creates the endpoint of this process on <paramref name="communicator"/> (thread level Serialized or better).</summary>
    public MpiRingTransport(Communicator communicator, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        if (timeout <= TimeSpan.Zero && timeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), $"timeout: expected a positive time, actual {timeout}.");
        }
        var environment = MpiEnvironment.Current ?? throw new InvalidOperationException("MPI is not initialised: create an MpiEnvironment first");
        if (environment.ProvidedThreadLevel < ThreadLevel.Serialized)
        {
            throw new NotSupportedException($"the MPI ring's progress thread needs MPI thread level Serialized or better; {environment.Library.Name} provides {environment.ProvidedThreadLevel}");
        }
        _communicator = communicator;
        Timeout = timeout;
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

    /// <inheritdoc />
    public IPendingExchange PostExchange(KvMessage send, KvMessage receive, int step)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        int next = (Rank + 1) % Size, previous = (Rank - 1 + Size) % Size;
        int tag = step % ((Communicator.MaxTag + 1) / 2) * 2;
        Exchange exchange;
        lock (_sync)
        {
            // Serialised with the progress thread's tests: correct at MPI_THREAD_SERIALIZED too.
            var receives = new[]
            {
                _communicator.ImmediateReceive(receive.Key, receive.BytesEach, previous, tag),
                _communicator.ImmediateReceive(receive.Value, receive.BytesEach, previous, tag + 1),
            };
            var sends = new[]
            {
                _communicator.ImmediateSend(send.Key, send.BytesEach, next, tag),
                _communicator.ImmediateSend(send.Value, send.BytesEach, next, tag + 1),
            };
            exchange = new Exchange(this, step, previous, next, receives, sends);
            _inFlight.Add(exchange);
        }
        _posted.Release();
        return exchange;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _disposed = true;
        _posted.Release();
        _progress.Join();
        _posted.Dispose();
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

    private sealed class Exchange(MpiRingTransport transport, int step, int previous, int next, Request[] receives, Request[] sends)
        : ITimedExchange
    {
        private readonly ManualResetEventSlim _done = new();
        private Exception? _failure;

        public long CompletedTimestamp { get; private set; }

        /// <summary>Called by the progress thread under the transport's lock; true once finished (completed or failed).</summary>
        public bool Advance()
        {
            try
            {
                if (!receives.All(r => r.Test()) | !sends.All(s => s.Test()))
                {
                    return false;
                }
                CompletedTimestamp = Stopwatch.GetTimestamp();
            }
            catch (Exception e)
            {
                _failure = e;
            }
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
                        string rank = $"rank {transport.Rank}, step {step}";
                        string seconds = $"{transport.Timeout.TotalSeconds:F0} s";
                        throw new TimeoutException(receives.All(r => r.IsCompleted)
                            ? $"{rank}: rank {next} did not receive the K/V block within {seconds}"
                            : $"{rank}: rank {previous} did not send its K/V block within {seconds}");
                    }
                }
            }
            if (_failure is not null)
            {
                throw new InvalidOperationException(
                    $"ring exchange of rank {transport.Rank}, step {step} (from rank {previous}, to rank {next}) failed: {_failure.Message}", _failure);
            }
        }
    }
}
