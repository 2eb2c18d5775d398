namespace RingAttention.Cuda;

/// <summary>
/// The stream a GPU ring transport moves K/V blocks on, ordered against the backend's compute stream by events
/// alone, so the host never blocks on either. <see cref="Post"/> makes the exchange wait for every kernel enqueued
/// so far: the block to send was produced by them (or arrived earlier on this same stream), and the buffer to
/// receive into was last read by them (the ring double-buffers, so that is the previous step's kernels).
/// <see cref="Deliver"/> makes the kernels enqueued afterwards wait for the transfer. The single-GPU copy ring and
/// the NCCL ring share this ordering and differ only in how the bytes move.
/// </summary>
public sealed class ExchangeStream : IDisposable
{
    private readonly CudaBackend _backend;

    /// <summary>Creates the exchange stream beside <paramref name="backend"/>'s compute stream.</summary>
    public ExchangeStream(CudaBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        _backend = backend;
        Stream = new CudaStream(backend.Context);
    }

    /// <summary>The stream transfers are enqueued on.</summary>
    public CudaStream Stream { get; }

    /// <summary>
    /// Orders the transfers enqueued next after all compute enqueued so far, and returns that point on the compute
    /// stream as a mark (the origin from which the ring measures the exchange).
    /// </summary>
    public CudaMark Post()
    {
        var posted = new CudaMark(_backend.ComputeStream);
        try
        {
            Stream.WaitEvent(posted.Event);
        }
        catch
        {
            posted.Dispose();
            throw;
        }
        return posted;
    }

    /// <summary>A mark after the transfers enqueued so far: it completes when they have.</summary>
    public CudaMark Complete() => new(Stream);

    /// <summary>Makes the kernels enqueued from now on wait, on the device, until <paramref name="completed"/> has.</summary>
    public void Deliver(CudaMark completed) => _backend.ComputeStream.WaitEvent(completed.Event);

    /// <inheritdoc />
    public void Dispose() => Stream.Dispose();
}
