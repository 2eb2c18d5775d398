using RingAttention.Kernels;

namespace RingAttention.Ring;

/// <summary>
/// The memory a rank's passes work in, beside the tensors the caller owns: the two receive buffers the ring
/// alternates, the fp32 running state, and device copies of span inputs. Each is allocated on first use, its pages
/// touched once (first-touch faults belong to setup, not to the first exchanges' timing), and replaced only when a
/// larger problem needs more: repeated passes of one size allocate nothing.
/// </summary>
internal sealed class RankWorkspace(IAttentionBackend backend) : IDisposable
{
    private readonly BackendBuffer?[] _receive = new BackendBuffer?[2];
    private BackendBuffer? _accumulator;
    private BackendBuffer? _rowMax;
    private BackendBuffer? _rowSum;
    private RankTensors? _staged;

    /// <summary>Bytes held, staged tensors included.</summary>
    public long Bytes => StateBytes + (_staged?.Bytes ?? 0);

    /// <summary>Bytes of the receive buffers and the running state (what a pass holds beside its tensors).</summary>
    public long StateBytes => _receive.Sum(b => b?.Bytes ?? 0) + (_accumulator?.Bytes ?? 0) + (_rowMax?.Bytes ?? 0) + (_rowSum?.Bytes ?? 0);

    /// <summary>Receive buffer <paramref name="index"/> (0 or 1), at least <paramref name="bytes"/> bytes.</summary>
    public BackendBuffer Receive(int index, long bytes) => Ensure(ref _receive[index], bytes, touch: true);

    /// <summary>The fp32 accumulator of a 16-bit output (an fp32 O doubles as its own).</summary>
    public BackendBuffer Accumulator(long bytes) => Ensure(ref _accumulator, bytes, touch: false);

    /// <summary>The running row maxima.</summary>
    public BackendBuffer RowMax(long bytes) => Ensure(ref _rowMax, bytes, touch: false);

    /// <summary>The running row sums.</summary>
    public BackendBuffer RowSum(long bytes) => Ensure(ref _rowSum, bytes, touch: false);

    /// <summary>Backend tensors for span inputs on a device backend, reused while large enough.</summary>
    public RankTensors StagedTensors(AttentionOptions options, int localLength)
    {
        if (_staged is null || !_staged.Fits(options, localLength))
        {
            _staged?.Dispose();
            _staged = null;
            _staged = RankTensors.Allocate(backend, options, localLength);
        }
        return _staged.View(options, localLength);
    }

    private BackendBuffer Ensure(ref BackendBuffer? buffer, long bytes, bool touch)
    {
        if (buffer is null || buffer.Bytes < bytes)
        {
            buffer?.Dispose();
            buffer = null;
            buffer = backend.Allocate(bytes);
            if (touch)
            {
                backend.Fill(buffer, 0, buffer.Bytes / sizeof(float), 0f);
            }
        }
        return buffer;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var buffer in new[] { _receive[0], _receive[1], _accumulator, _rowMax, _rowSum })
        {
            buffer?.Dispose();
        }
        _staged?.Dispose();
    }
}
