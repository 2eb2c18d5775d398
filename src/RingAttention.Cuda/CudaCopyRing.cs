using RingAttention.Kernels;
using RingAttention.Ring;
using static RingAttention.Cuda.Native.NativeCuda;

namespace RingAttention.Cuda;

/// <summary>
/// The emulation transport on one GPU: P virtual ranks over the same <see cref="RingRendezvous"/> as
/// <see cref="InProcessRing"/>, whose copies are device-to-device copies on a copy stream, so the next block's
/// transfer overlaps the current block's kernels on the compute stream. Ordering uses events only
/// (<see cref="ExchangeStream"/>): each posted exchange first waits for everything already enqueued on the compute
/// stream (the receive buffer it overwrites was last read by the previous step's kernels), and a rank's wait makes
/// the compute stream wait for the copy into its receive regions. Collectives stage through host memory after the
/// device has finished the work before them (they serve bookkeeping and merges, not the hot loop). Exchanges mark
/// their post and completion, so the ring reports their device time.
/// </summary>
public static class CudaCopyRing
{
    /// <summary>Creates the <paramref name="size"/> endpoints of one ring on <paramref name="backend"/>'s device.</summary>
    public static IRingTransport[] Create(CudaBackend backend, int size, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var copier = new DeviceCopier(backend);
        var ring = new RingRendezvous(size, timeout ?? TransportTimeouts.Default, copier);
        var endpoints = new Endpoints(size, copier);
        return Enumerable.Range(0, size).Select(rank => (IRingTransport)new Endpoint(ring, rank, copier, endpoints)).ToArray();
    }

    private sealed unsafe class DeviceCopier(CudaBackend backend) : IRendezvousCopier
    {
        public ExchangeStream Copies { get; } = new(backend);

        public object? Copy(RingMessage send, RingMessage receive)
        {
            backend.Context.SetCurrent();
            for (int i = 0; i < send.Count; i++)
            {
                // A rank may hold no rows (N < P): nothing to copy, but the receiver still waits on an event.
                if (send[i].Bytes > 0)
                {
                    ThrowIfFailed(cuMemcpyDtoDAsync_v2((ulong)receive[i].Address, (ulong)send[i].Address, (nuint)send[i].Bytes, Copies.Stream.Stream));
                }
            }
            return Copies.Complete();
        }

        public void Read(nint source, Span<byte> destination)
        {
            backend.Synchronize();
            Copies.Stream.Synchronize();
            fixed (byte* data = destination)
            {
                ThrowIfFailed(cuMemcpyDtoH_v2(data, (ulong)source, (nuint)destination.Length));
            }
        }

        public void Write(ReadOnlySpan<byte> source, nint destination)
        {
            backend.Context.SetCurrent();
            fixed (byte* data = source)
            {
                ThrowIfFailed(cuMemcpyHtoD_v2((ulong)destination, data, (nuint)source.Length));
            }
        }
    }

    /// <summary>Counts the open endpoints; the last one to close disposes the copy stream.</summary>
    private sealed class Endpoints(int open, DeviceCopier copier)
    {
        public void Closed()
        {
            if (Interlocked.Decrement(ref open) == 0)
            {
                copier.Copies.Dispose();
            }
        }
    }

    private sealed class Endpoint(RingRendezvous ring, int rank, DeviceCopier copier, Endpoints endpoints) : RendezvousEndpoint("cuda-copy", ring, rank)
    {
        private int _disposed;

        public override IPendingExchange PostExchange(ExchangeId id, RingMessage send, RingMessage receive) =>
            Timed(() => base.PostExchange(id, send, receive));

        public override IPendingExchange PostAllReduce(nint buffer, long count, ReduceOperation operation) =>
            Timed(() => base.PostAllReduce(buffer, count, operation));

        public override IPendingExchange PostGather(nint send, long bytes, nint receive) => Timed(() => base.PostGather(send, bytes, receive));

        public override IPendingExchange PostBarrier() => Timed(base.PostBarrier);

        /// <summary>Marks the post on the device; copies then wait for the kernels enqueued so far (they may still read the receive regions).</summary>
        private Operation Timed(Func<IPendingExchange> post)
        {
            var posted = copier.Copies.Post();
            try
            {
                return new Operation((RendezvousOperation)post(), copier, posted);
            }
            catch
            {
                posted.Dispose();
                throw;
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                endpoints.Closed();
            }
        }
    }

    /// <summary>A posted operation with device marks: the copies' completion, or (a collective, staged on the host) the point after it.</summary>
    private sealed class Operation(RendezvousOperation operation, DeviceCopier copier, CudaMark posted) : IPendingExchange
    {
        private CudaMark? _completed;

        public IClockMark Posted => posted;

        public IClockMark Completed => _completed ?? throw new InvalidOperationException("the operation has not been waited for");

        public void Wait()
        {
            operation.Wait();
            _completed = (CudaMark?)operation.Completion ?? copier.Copies.Complete();
            copier.Copies.Deliver(_completed);
        }
    }
}
