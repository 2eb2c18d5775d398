using RingAttention.Kernels;

namespace RingAttention.Ring;

/// <summary>
/// One rank's tensors in the backend's memory: Q, K, V and O as [batch, localLength, heads, headDim] in the
/// storage type, LSE as fp32 [batch, heads, localLength].
/// </summary>
public sealed class RankTensors : IDisposable
{
    private readonly bool _owned;

    /// <summary>Wraps buffers the caller owns; sizes are checked against the options and the local length.</summary>
    public RankTensors(AttentionOptions options, int localLength, BackendBuffer q, BackendBuffer k, BackendBuffer v, BackendBuffer o, BackendBuffer lse)
        : this(options, localLength, q, k, v, o, lse, owned: false)
    {
    }

    private RankTensors(AttentionOptions options, int localLength, BackendBuffer q, BackendBuffer k, BackendBuffer v, BackendBuffer o, BackendBuffer lse, bool owned)
    {
        options.Validate();
        Guard.AtLeast(localLength, 0);
        LocalLength = localLength;
        long elementSize = ElementTypes.SizeOf(options.ElementType);
        long queryBytes = (long)options.Batch * localLength * options.QueryRowElements * elementSize;
        long keyBytes = (long)options.Batch * localLength * options.KeyRowElements * elementSize;
        CheckSize(q, queryBytes, nameof(q));
        CheckSize(k, keyBytes, nameof(k));
        CheckSize(v, keyBytes, nameof(v));
        CheckSize(o, queryBytes, nameof(o));
        CheckSize(lse, (long)options.Batch * options.Heads * localLength * sizeof(float), nameof(lse));
        (Q, K, V, O, Lse, _owned) = (q, k, v, o, lse, owned);
    }

    /// <summary>Allocates a rank's tensors on <paramref name="backend"/>.</summary>
    public static RankTensors Allocate(IAttentionBackend backend, AttentionOptions options, int localLength)
    {
        options.Validate();
        long elementSize = ElementTypes.SizeOf(options.ElementType);
        long queryBytes = (long)options.Batch * localLength * options.QueryRowElements * elementSize;
        long keyBytes = (long)options.Batch * localLength * options.KeyRowElements * elementSize;
        return new RankTensors(options, localLength,
            backend.Allocate(queryBytes), backend.Allocate(keyBytes), backend.Allocate(keyBytes), backend.Allocate(queryBytes),
            backend.Allocate((long)options.Batch * options.Heads * localLength * sizeof(float)), owned: true);
    }

    /// <summary>Whether these buffers can hold the tensors of <paramref name="localLength"/> rows shaped by <paramref name="options"/>.</summary>
    internal bool Fits(AttentionOptions options, int localLength)
    {
        long elementSize = ElementTypes.SizeOf(options.ElementType);
        long queryBytes = (long)options.Batch * localLength * options.QueryRowElements * elementSize;
        long keyBytes = (long)options.Batch * localLength * options.KeyRowElements * elementSize;
        return Q.Bytes >= queryBytes && K.Bytes >= keyBytes && V.Bytes >= keyBytes && O.Bytes >= queryBytes
            && Lse.Bytes >= (long)options.Batch * options.Heads * localLength * sizeof(float);
    }

    /// <summary>The tensors of a problem that fits (<see cref="Fits"/>), over the start of these buffers, which it does not own.</summary>
    internal RankTensors View(AttentionOptions options, int localLength) => new(options, localLength, Q, K, V, O, Lse);

    /// <summary>Rows this rank holds.</summary>
    public int LocalLength { get; }

    /// <summary>Queries.</summary>
    public BackendBuffer Q { get; }

    /// <summary>Keys.</summary>
    public BackendBuffer K { get; }

    /// <summary>Values.</summary>
    public BackendBuffer V { get; }

    /// <summary>Output.</summary>
    public BackendBuffer O { get; }

    /// <summary>Log-sum-exp of every output row (natural log; −inf where a row saw no key).</summary>
    public BackendBuffer Lse { get; }

    /// <summary>Bytes of all five tensors.</summary>
    public long Bytes => Q.Bytes + K.Bytes + V.Bytes + O.Bytes + Lse.Bytes;

    /// <inheritdoc />
    public void Dispose()
    {
        if (_owned)
        {
            foreach (var buffer in new[] { Q, K, V, O, Lse })
            {
                buffer.Dispose();
            }
        }
    }

    private static void CheckSize(BackendBuffer buffer, long expected, string name)
    {
        if (buffer.Bytes < expected)
        {
            throw new ArgumentException($"{name}: expected at least {expected} bytes, actual {buffer.Bytes}.", name);
        }
    }
}
