using RingAttention.Layouts;

namespace RingAttention.Planning;

/// <summary>What <c>ringattn plan</c> is asked: a problem, a device and a link, and what to consider.</summary>
public sealed record PlanRequest
{
    /// <summary>The attention problem (batch, heads, KV heads, head dim, storage type, causal).</summary>
    public required AttentionOptions Attention { get; init; }

    /// <summary>Global sequence length N.</summary>
    public required int SequenceLength { get; init; }

    /// <summary>The device every rank runs on.</summary>
    public required DeviceSpec Device { get; init; }

    /// <summary>The link between neighbouring ranks.</summary>
    public required LinkSpec Link { get; init; }

    /// <summary>The inter-node link a ring longer than one node crosses in the ten-million-token question.</summary>
    public LinkSpec? InterNodeLink { get; init; }

    /// <summary>A fixed P to predict; null predicts the smallest fitting P and powers of two above it.</summary>
    public int? Ranks { get; init; }

    /// <summary>A causal sliding window (keys per query, the query's own included); null for none.</summary>
    public int? Window { get; init; }

    /// <summary>Include the backward pass (modelled) in predictions, memory fit and the recommendation.</summary>
    public bool Backward { get; init; }

    /// <summary>Attention layers per pass: times and memory are per layer, the pass total multiplies by this.</summary>
    public int Layers { get; init; } = 1;

    /// <summary>Fraction of device memory the attention tensors of one layer may use (weights and the rest need the remainder).</summary>
    public double MemoryFraction { get; init; } = 0.9;

    /// <summary>GPUs in one node: rings larger than this cross the inter-node link.</summary>
    public int GpusPerNode { get; init; } = 8;

    /// <summary>The layouts to compare.</summary>
    public IReadOnlyList<LayoutKind> Layouts { get; init; } = [LayoutKind.Contiguous, LayoutKind.Zigzag, LayoutKind.Striped];
}
