using RingAttention.Kernels;

namespace RingAttention.Ring;

/// <summary>
/// The memory a rank's passes work in, beside the tensors the caller owns: the two receive buffers the ring
/// alternates, the fp32 running state (the backward's: D, the dQ accumulator, two dK/dV accumulators and the one
/// the ring delivers), and device copies of span inputs. Each is allocated on first use, its pages
/// touched once (first-touch faults belong to setup, not to the first exchanges' timing), and replaced only when a
/// larger problem needs more: repeated passes of one size allocate nothing.
/// </summary>
internal sealed class RankWorkspace(IAttentionBackend backend) : IDisposable
{
    private readonly BackendBuffer?[] _receive = new BackendBuffer?[2];
    private BackendBuffer? _accumulator;
    private BackendBuffer? _rowMax;
    private BackendBuffer? _rowSum;
    private readonly BackendBuffer?[] _keyValueGrads = new BackendBuffer?[2];
    private BackendBuffer? _keyValueGradsReceived;
    private BackendBuffer? _dSum;
    private BackendBuffer? _queryGrad;
    private RankTensors? _staged;
    private RankGradients? _stagedGradients;

    /// <summary>Bytes held, staged tensors included.</summary>
    public long Bytes => StateBytes + (_staged?.Bytes ?? 0) + (_stagedGradients?.Bytes ?? 0);

    /// <summary>Bytes of the receive buffers and the running state (what a pass holds beside its tensors).</summary>
    public long StateBytes => Buffers.Sum(b => b?.Bytes ?? 0);

    private BackendBuffer?[] Buffers =>
        [_receive[0], _receive[1], _accumulator, _rowMax, _rowSum, _keyValueGrads[0], _keyValueGrads[1], _keyValueGradsReceived, _dSum, _queryGrad];

    /// <summary>Receive buffer <paramref name="index"/> (0 or 1), at least <paramref name="bytes"/> bytes.</summary>
    public BackendBuffer Receive(int index, long bytes) => Ensure(ref _receive[index], bytes, touch: true);

    /// <summary>The fp32 accumulator of a 16-bit output (an fp32 O doubles as its own).</summary>
    public BackendBuffer Accumulator(long bytes) => Ensure(ref _accumulator, bytes, touch: false);

    /// <summary>The running row maxima.</summary>
    public BackendBuffer RowMax(long bytes) => Ensure(ref _rowMax, bytes, touch: false);

    /// <summary>The running row sums.</summary>
    public BackendBuffer RowSum(long bytes) => Ensure(ref _rowSum, bytes, touch: false);

    /// <summary>The backward's fp32 dK/dV accumulator <paramref name="index"/> (0 or 1): the block computed now and the one being sent.</summary>
    public BackendBuffer KeyValueGrads(int index, long bytes) => Ensure(ref _keyValueGrads[index], bytes, touch: true);

    /// <summary>The backward's receive buffer for the dK/dV accumulator the previous rank sends.</summary>
    public BackendBuffer KeyValueGradsReceived(long bytes) => Ensure(ref _keyValueGradsReceived, bytes, touch: true);

    /// <summary>The backward's D = rowsum(dO ∘ O).</summary>
    public BackendBuffer DSum(long bytes) => Ensure(ref _dSum, bytes, touch: false);

    /// <summary>The backward's fp32 dQ accumulator of a 16-bit dQ (an fp32 dQ doubles as its own).</summary>
    public BackendBuffer QueryGrad(long bytes) => Ensure(ref _queryGrad, bytes, touch: false);

    /// <summary>Backend gradient tensors for span inputs on a device backend, reused while large enough.</summary>
    public RankGradients StagedGradients(AttentionOptions options, int localLength)
    {
        long elementSize = ElementTypes.SizeOf(options.ElementType);
        long queryBytes = (long)options.Batch * localLength * options.QueryRowElements * elementSize;
        long keyBytes = (long)options.Batch * localLength * options.KeyRowElements * elementSize;
        if (_stagedGradients is null || _stagedGradients.DO.Bytes < queryBytes || _stagedGradients.DK.Bytes < keyBytes)
        {
            _stagedGradients?.Dispose();
            _stagedGradients = null;
            _stagedGradients = RankGradients.Allocate(backend, options, localLength);
        }
        return new RankGradients(options, localLength, _stagedGradients.DO, _stagedGradients.DQ, _stagedGradients.DK, _stagedGradients.DV);
    }

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
        foreach (var buffer in Buffers)
        {
            buffer?.Dispose();
        }
        _staged?.Dispose();
        _stagedGradients?.Dispose();
    }
}
