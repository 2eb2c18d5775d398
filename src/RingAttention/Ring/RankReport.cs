namespace RingAttention.Ring;

/// <summary>Time one ring step spent computing and waiting for its exchange.</summary>
/// <param name="ComputeSeconds">Block-kernel time of the step.</param>
/// <param name="WaitSeconds">Time spent posting the exchange and blocked in its wait after compute: exchange time not hidden behind compute.</param>
/// <param name="ExchangeBytes">Bytes sent in the step's exchange (K and V; in the backward also the dK/dV accumulators).</param>
public readonly record struct StepTiming(double ComputeSeconds, double WaitSeconds, long ExchangeBytes)
{
    /// <summary>Seconds from posting the step's exchange to its completion; null when the transport does not observe completion times.</summary>
    public double? ExchangeSeconds { get; init; }

    /// <summary>Seconds of the exchange that ran before the rank began to wait for it, i.e. hidden behind the step's compute; null when unknown.</summary>
    public double? HiddenSeconds { get; init; }
}

/// <summary>What one rank did in one pass (forward or backward).</summary>
public sealed record RankReport
{
    /// <summary>The rank.</summary>
    public required int Rank { get; init; }

    /// <summary>Rows the rank holds.</summary>
    public required int LocalLength { get; init; }

    /// <summary>Per-step figures, in ring order.</summary>
    public required IReadOnlyList<StepTiming> Steps { get; init; }

    /// <summary>Time in the once-per-pass step before the ring (the backward's preprocess, D = rowsum(dO ∘ O)); 0 for the forward.</summary>
    public double PrepareSeconds { get; init; }

    /// <summary>Time in the finalize step (the backward's: casting dQ, dK and dV to the storage type).</summary>
    public required double FinalizeSeconds { get; init; }

    /// <summary>Bytes of memory the rank holds for the pass: its shards (and gradients), the two K/V receive buffers and the running state.</summary>
    public required long BytesHeld { get; init; }

    /// <summary>Block-kernel calls made (fully masked block pairs are not called).</summary>
    public required int KernelCalls { get; init; }

    /// <summary>Exchanges posted (a step whose send and receive are both empty blocks posts none).</summary>
    public int ExchangesPosted { get; init; }

    /// <summary>Total compute time.</summary>
    public double ComputeSeconds => Steps.Sum(s => s.ComputeSeconds);

    /// <summary>Total exposed exchange time.</summary>
    public double WaitSeconds => Steps.Sum(s => s.WaitSeconds);

    /// <summary>Total bytes sent.</summary>
    public long BytesSent => Steps.Sum(s => s.ExchangeBytes);

    /// <summary>Total exchange time (post to completion) over the steps whose completion was observed; null when none was.</summary>
    public double? ExchangeSeconds => Steps.Any(s => s.ExchangeSeconds is not null) ? Steps.Sum(s => s.ExchangeSeconds ?? 0) : null;

    /// <summary>Total exchange time hidden behind compute over the steps whose completion was observed; null when none was.</summary>
    public double? HiddenSeconds => Steps.Any(s => s.HiddenSeconds is not null) ? Steps.Sum(s => s.HiddenSeconds ?? 0) : null;
}
