using RingAttention.Kernels;

namespace RingAttention.Ring;

/// <summary>
/// One rank's gradient tensors in the backend's memory, beside its <see cref="RankTensors"/>: dO (the input) and dQ
/// as [batch, localLength, heads, headDim], dK and dV as [batch, localLength, kvHeads, headDim], all in the storage type.
/// </summary>
public sealed class RankGradients : IDisposable
{
    private readonly bool _owned;

    /// <summary>Wraps buffers the caller owns; sizes are checked against the options and the local length.</summary>
    public RankGradients(AttentionOptions options, int localLength, BackendBuffer dO, BackendBuffer dQ, BackendBuffer dK, BackendBuffer dV)
        : this(options, localLength, dO, dQ, dK, dV, owned: false)
    {
    }

    private RankGradients(AttentionOptions options, int localLength, BackendBuffer dO, BackendBuffer dQ, BackendBuffer dK, BackendBuffer dV, bool owned)
    {
        options.Validate();
        Guard.AtLeast(localLength, 0);
        ArgumentNullException.ThrowIfNull(dO);
        ArgumentNullException.ThrowIfNull(dQ);
        ArgumentNullException.ThrowIfNull(dK);
        ArgumentNullException.ThrowIfNull(dV);
        var (queryBytes, keyBytes) = Sizes(options, localLength);
        CheckSize(dO, queryBytes, nameof(dO));
        CheckSize(dQ, queryBytes, nameof(dQ));
        CheckSize(dK, keyBytes, nameof(dK));
        CheckSize(dV, keyBytes, nameof(dV));
        (LocalLength, DO, DQ, DK, DV, _owned) = (localLength, dO, dQ, dK, dV, owned);
    }

    /// <summary>Allocates a rank's gradient tensors on <paramref name="backend"/> (contents undefined).</summary>
    public static RankGradients Allocate(IAttentionBackend backend, AttentionOptions options, int localLength)
    {
        ArgumentNullException.ThrowIfNull(backend);
        options.Validate();
        var (queryBytes, keyBytes) = Sizes(options, localLength);
        return new RankGradients(options, localLength, backend.Allocate(queryBytes), backend.Allocate(queryBytes), backend.Allocate(keyBytes),
            backend.Allocate(keyBytes), owned: true);
    }

    /// <summary>Rows this rank holds.</summary>
    public int LocalLength { get; }

    /// <summary>Gradient of the loss with respect to O (input).</summary>
    public BackendBuffer DO { get; }

    /// <summary>Gradient with respect to Q (output).</summary>
    public BackendBuffer DQ { get; }

    /// <summary>Gradient with respect to K (output).</summary>
    public BackendBuffer DK { get; }

    /// <summary>Gradient with respect to V (output).</summary>
    public BackendBuffer DV { get; }

    /// <summary>Bytes of all four tensors.</summary>
    public long Bytes => DO.Bytes + DQ.Bytes + DK.Bytes + DV.Bytes;

    /// <inheritdoc />
    public void Dispose()
    {
        if (_owned)
        {
            foreach (var buffer in new[] { DO, DQ, DK, DV })
            {
                buffer.Dispose();
            }
        }
    }

    private static (long Query, long Key) Sizes(AttentionOptions options, int localLength)
    {
        long elementSize = ElementTypes.SizeOf(options.ElementType);
        return ((long)options.Batch * localLength * options.QueryRowElements * elementSize, (long)options.Batch * localLength * options.KeyRowElements * elementSize);
    }

    private static void CheckSize(BackendBuffer buffer, long expected, string name)
    {
        if (buffer.Bytes < expected)
        {
            throw new ArgumentException($"{name}: expected at least {expected} bytes, actual {buffer.Bytes}.", name);
        }
    }
}
