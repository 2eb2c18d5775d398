using RingAttention.Kernels;
using RingAttention.Ring;
using static RingAttention.Cuda.Native.NativeCuda;

namespace RingAttention.Cuda;

/// <summary>
/// The emulation transport on one GPU: P virtual ranks pass K/V by device-to-device copies on a copy stream, so the
/// next block's transfer overlaps the current block's kernels on the compute stream. Ordering uses events only
/// (<see cref="ExchangeStream"/>): each posted copy first waits for everything already enqueued on the compute
/// stream (the receive buffer it overwrites was last read by the previous step's kernels), and a rank's wait makes
/// the compute stream wait for the copy into its receive buffer. The host never blocks. A wait whose peer never
/// posted fails at once, naming it. Exchanges mark their post and completion, so the ring reports their device time.
/// </summary>
public sealed class CudaCopyRing
{
    private readonly CudaBackend _backend;
    private readonly ExchangeStream _copies;
    private readonly Lock _sync = new();
    private readonly Dictionary<(int Receiver, int Step), KvMessage> _sends = new();
    private readonly Dictionary<(int Receiver, int Step), Exchange> _receives = new();
    private int _endpoints;

    private CudaCopyRing(CudaBackend backend, int size)
    {
        _backend = backend;
        _copies = new ExchangeStream(backend);
        Size = size;
    }

    /// <summary>Ranks in the ring.</summary>
    public int Size { get; }

    /// <summary>Creates the <paramref name="size"/> endpoints of one ring on <paramref name="backend"/>'s device.</summary>
    public static IRingTransport[] Create(CudaBackend backend, int size)
    {
        Guard.AtLeast(size, 1);
        var ring = new CudaCopyRing(backend, size);
        ring._endpoints = size;
        return Enumerable.Range(0, size).Select(rank => (IRingTransport)new Endpoint(ring, rank)).ToArray();
    }

    private Exchange Post(int rank, KvMessage send, KvMessage receive, int step)
    {
        int next = (rank + 1) % Size, previous = (rank - 1 + Size) % Size;
        lock (_sync)
        {
            // Copies overwrite receive buffers the kernels enqueued so far may still read.
            var exchange = new Exchange(this, rank, previous, step, receive, _copies.Post());
            if (_receives.Remove((next, step), out var peer))
            {
                Deliver(send, peer, rank);
            }
            else
            {
                _sends[(next, step)] = send;
            }
            if (_sends.Remove((rank, step), out var incoming))
            {
                Deliver(incoming, exchange, previous);
            }
            else
            {
                _receives[(rank, step)] = exchange;
            }
            return exchange;
        }
    }

    private void Deliver(KvMessage from, Exchange to, int sender)
    {
        if (from.BytesEach != to.Buffer.BytesEach)
        {
            throw new InvalidOperationException(
                $"ring exchange from rank {sender} to rank {to.Rank}: sent {from.BytesEach} bytes per tensor, receiver expected {to.Buffer.BytesEach}");
        }
        // A rank may hold no rows (N < P): nothing to copy, but the receiver still waits on an event.
        if (from.BytesEach > 0)
        {
            _backend.Context.SetCurrent();
            ThrowIfFailed(cuMemcpyDtoDAsync_v2((ulong)to.Buffer.Key, (ulong)from.Key, (nuint)from.BytesEach, _copies.Stream.Stream));
            ThrowIfFailed(cuMemcpyDtoDAsync_v2((ulong)to.Buffer.Value, (ulong)from.Value, (nuint)from.BytesEach, _copies.Stream.Stream));
        }
        to.Arrived = _copies.Complete();
    }

    private void EndpointDisposed()
    {
        if (Interlocked.Decrement(ref _endpoints) == 0)
        {
            _copies.Dispose();
        }
    }

    private sealed class Exchange(CudaCopyRing ring, int rank, int previous, int step, KvMessage buffer, CudaMark posted) : IDeviceTimedExchange
    {
        public int Rank => rank;

        public KvMessage Buffer => buffer;

        /// <summary>After the copy into this rank's buffer; set when both ends have posted.</summary>
        public CudaMark? Arrived { get; set; }

        public IDeviceMark Posted => posted;

        public IDeviceMark Completed => Arrived ?? throw new InvalidOperationException($"rank {rank}, step {step}: the exchange has not been delivered");

        public void Wait()
        {
            CudaMark? arrived;
            lock (ring._sync)
            {
                arrived = Arrived;
            }
            if (arrived is null)
            {
                throw new InvalidOperationException($"rank {rank}, step {step}: rank {previous} did not post its K/V block (emulated ranks must all post before any waits)");
            }
            ring._copies.Deliver(arrived);
        }
    }

    private sealed class Endpoint(CudaCopyRing ring, int rank) : IRingTransport
    {
        private int _disposed;

        public string Name => "cuda-copy";

        public int Rank => rank;

        public int Size => ring.Size;

        public IPendingExchange PostExchange(KvMessage send, KvMessage receive, int step) => ring.Post(rank, send, receive, step);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                ring.EndpointDisposed();
            }
        }
    }
}
