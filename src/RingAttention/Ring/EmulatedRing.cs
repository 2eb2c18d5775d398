using RingAttention.Kernels;
using RingAttention.Layouts;

namespace RingAttention.Ring;

/// <summary>
/// Emulation mode: P virtual ranks on one device, each with its own shards, exchanging K/V through
/// the backend's emulation transport (<see cref="InProcessRing"/> on host memory) and stepped by the same
/// <see cref="RingDriver"/> as real ranks. Each rank keeps its session, so repeated passes reuse the workspaces.
/// </summary>
public sealed class EmulatedRing : IDisposable
{
    private readonly RingRank[] _ranks;
    private readonly IRingTransport[] _transports;

    /// <summary>Allocates every virtual rank's tensors and state on <paramref name="backend"/>.</summary>
    public EmulatedRing(AttentionOptions options, ISequenceLayout layout, IAttentionBackend backend)
    {
        options.Validate();
        Options = options;
        Layout = layout;
        Backend = backend;
        _transports = backend.CreateEmulatedRing(layout.Ranks);
        _ranks = new RingRank[layout.Ranks];
        for (int rank = 0; rank < layout.Ranks; rank++)
        {
            var tensors = RankTensors.Allocate(backend, options, layout.LocalLength(rank));
            _ranks[rank] = new RingRank(options, layout, _transports[rank], backend, tensors);
        }
    }

    /// <summary>The shared problem.</summary>
    public AttentionOptions Options { get; }

    /// <summary>The sequence layout.</summary>
    public ISequenceLayout Layout { get; }

    /// <summary>The device all virtual ranks share.</summary>
    public IAttentionBackend Backend { get; }

    /// <summary>The virtual ranks, in rank order.</summary>
    public IReadOnlyList<RingRank> Ranks => _ranks;

    /// <summary>Runs one forward pass over all virtual ranks.</summary>
    public RankReport[] Forward(IProgress<int>? stepProgress = null) => RingDriver.Forward(_ranks, stepProgress);

    /// <summary>
    /// Runs one backward pass over all virtual ranks, after <see cref="Forward"/> (each rank's O and LSE are read):
    /// <paramref name="gradients"/>, one per rank in rank order, hold dO and receive dQ, dK and dV.
    /// </summary>
    public RankReport[] Backward(IReadOnlyList<RankGradients> gradients, IProgress<int>? stepProgress = null)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        Guard.That(gradients.Count == _ranks.Length, nameof(gradients), $"one per rank ({_ranks.Length})", gradients.Count);
        return RingDriver.Run(_ranks.Select((rank, i) => (IRingPass)rank.BeginBackward(gradients[i])).ToArray(), stepProgress);
    }

    /// <summary>
    /// Attention over full-sequence host tensors by way of the ring: shards Q, K, V by <paramref name="layout"/>,
    /// runs P virtual ranks, and gathers O [batch, N, heads, headDim] and LSE [batch, heads, N].
    /// </summary>
    public static RankReport[] Attention<T>(AttentionOptions options, ISequenceLayout layout, IAttentionBackend backend,
        ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, Span<T> o, Span<float> lse) where T : unmanaged
    {
        options.Validate();
        Guard.That(ElementTypes.Of<T>() == options.ElementType, nameof(T), $"the element type {options.ElementType}", typeof(T).Name);
        int n = layout.SequenceLength;
        Guard.Length(q.Length, (long)options.Batch * n * options.QueryRowElements, "batch × N × heads × headDim");
        Guard.Length(k.Length, (long)options.Batch * n * options.KeyRowElements, "batch × N × kvHeads × headDim");
        Guard.Length(v.Length, (long)options.Batch * n * options.KeyRowElements, "batch × N × kvHeads × headDim");
        Guard.Length(o.Length, (long)options.Batch * n * options.QueryRowElements, "batch × N × heads × headDim");
        Guard.Length(lse.Length, (long)options.Batch * options.Heads * n, "batch × heads × N");
        using var ring = new EmulatedRing(options, layout, backend);
        foreach (var rank in ring._ranks)
        {
            ShardInto(backend, layout, rank.Rank, options.Batch, options.QueryRowElements, q, rank.Tensors.Q);
            ShardInto(backend, layout, rank.Rank, options.Batch, options.KeyRowElements, k, rank.Tensors.K);
            ShardInto(backend, layout, rank.Rank, options.Batch, options.KeyRowElements, v, rank.Tensors.V);
        }
        var reports = ring.Forward();
        foreach (var rank in ring._ranks)
        {
            UnshardFrom(backend, layout, rank.Rank, options.Batch, options.QueryRowElements, rank.Tensors.O, o);
            // LSE [batch, heads, N] shards along its last axis: batch × heads rows of width 1.
            UnshardFrom(backend, layout, rank.Rank, options.Batch * options.Heads, 1, rank.Tensors.Lse, lse);
        }
        return reports;
    }

    /// <summary>
    /// The backward over full-sequence host tensors by way of the ring: shards Q, K, V, O, LSE and dO by
    /// <paramref name="layout"/>, runs P virtual ranks' backward passes, and gathers dQ [batch, N, heads, headDim], dK and
    /// dV [batch, N, kvHeads, headDim]. O and LSE are what the forward (<see cref="Attention{T}"/>) returned.
    /// </summary>
    public static RankReport[] AttentionBackward<T>(AttentionOptions options, ISequenceLayout layout, IAttentionBackend backend,
        ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, ReadOnlySpan<T> o, ReadOnlySpan<float> lse, ReadOnlySpan<T> dO,
        Span<T> dQ, Span<T> dK, Span<T> dV) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(layout);
        options.Validate();
        Guard.That(ElementTypes.Of<T>() == options.ElementType, nameof(T), $"the element type {options.ElementType}", typeof(T).Name);
        int n = layout.SequenceLength;
        long queryElements = (long)options.Batch * n * options.QueryRowElements;
        long keyElements = (long)options.Batch * n * options.KeyRowElements;
        Guard.Length(q.Length, queryElements, "batch × N × heads × headDim");
        Guard.Length(k.Length, keyElements, "batch × N × kvHeads × headDim");
        Guard.Length(v.Length, keyElements, "batch × N × kvHeads × headDim");
        Guard.Length(o.Length, queryElements, "batch × N × heads × headDim");
        Guard.Length(lse.Length, (long)options.Batch * options.Heads * n, "batch × heads × N, the forward's LSE");
        Guard.Length(dO.Length, queryElements, "batch × N × heads × headDim");
        Guard.Length(dQ.Length, queryElements, "batch × N × heads × headDim");
        Guard.Length(dK.Length, keyElements, "batch × N × kvHeads × headDim");
        Guard.Length(dV.Length, keyElements, "batch × N × kvHeads × headDim");
        using var ring = new EmulatedRing(options, layout, backend);
        var gradients = new RankGradients[layout.Ranks];
        try
        {
            foreach (var rank in ring._ranks)
            {
                gradients[rank.Rank] = RankGradients.Allocate(backend, options, rank.LocalLength);
                ShardInto(backend, layout, rank.Rank, options.Batch, options.QueryRowElements, q, rank.Tensors.Q);
                ShardInto(backend, layout, rank.Rank, options.Batch, options.KeyRowElements, k, rank.Tensors.K);
                ShardInto(backend, layout, rank.Rank, options.Batch, options.KeyRowElements, v, rank.Tensors.V);
                ShardInto(backend, layout, rank.Rank, options.Batch, options.QueryRowElements, o, rank.Tensors.O);
                ShardInto(backend, layout, rank.Rank, options.Batch * options.Heads, 1, lse, rank.Tensors.Lse);
                ShardInto(backend, layout, rank.Rank, options.Batch, options.QueryRowElements, dO, gradients[rank.Rank].DO);
            }
            var reports = ring.Backward(gradients);
            foreach (var rank in ring._ranks)
            {
                UnshardFrom(backend, layout, rank.Rank, options.Batch, options.QueryRowElements, gradients[rank.Rank].DQ, dQ);
                UnshardFrom(backend, layout, rank.Rank, options.Batch, options.KeyRowElements, gradients[rank.Rank].DK, dK);
                UnshardFrom(backend, layout, rank.Rank, options.Batch, options.KeyRowElements, gradients[rank.Rank].DV, dV);
            }
            return reports;
        }
        finally
        {
            foreach (var gradient in gradients)
            {
                gradient?.Dispose();
            }
        }
    }

    private static unsafe void ShardInto<T>(IAttentionBackend backend, ISequenceLayout layout, int rank, int batch, int width, ReadOnlySpan<T> full, BackendBuffer target)
        where T : unmanaged
    {
        using var shard = HostStaging.ForWriting(backend, target, (long)batch * layout.LocalLength(rank) * width * sizeof(T));
        layout.Shard(rank, full, shard.AsSpan<T>(), batch, width);
        shard.Commit();
    }

    private static unsafe void UnshardFrom<T>(IAttentionBackend backend, ISequenceLayout layout, int rank, int batch, int width, BackendBuffer source, Span<T> full)
        where T : unmanaged
    {
        using var shard = HostStaging.ForReading(backend, source, (long)batch * layout.LocalLength(rank) * width * sizeof(T));
        layout.Unshard(rank, shard.AsSpan<T>(), full, batch, width);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var rank in _ranks)
        {
            rank.Dispose();
            rank.Tensors.Dispose();
        }
        foreach (var transport in _transports)
        {
            transport.Dispose();
        }
    }
}
