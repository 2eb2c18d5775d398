using RingAttention.Reference;
using RingAttention.Ring;

namespace RingAttention.Cli;

/// <summary>One rank's figures, as gathered to the root.</summary>
internal sealed record RankSummary(
    int Rank,
    int LocalLength,
    double ComputeSeconds,
    double WaitSeconds,
    double FinalizeSeconds,
    long BytesSent,
    long BytesHeld,
    int KernelCalls,
    VerificationResult Verification,
    IReadOnlyList<StepTiming> Steps)
{
    /// <summary>Hash of the rank's O and LSE bytes (with --digest), to compare runs bitwise.</summary>
    public string? OutputDigest { get; init; }

    /// <summary>NaN and ±inf values in the rank's input rows (counted for file inputs).</summary>
    public long NonFiniteInputs { get; init; }

    /// <summary>The first of them, or null.</summary>
    public NonFiniteValue? FirstNonFiniteInput { get; init; }

    public static RankSummary From(RankReport report, VerificationResult verification) => new(
        report.Rank, report.LocalLength, report.ComputeSeconds, report.WaitSeconds, report.FinalizeSeconds,
        report.BytesSent, report.BytesHeld, report.KernelCalls, verification, report.Steps);
}

/// <summary>The whole job's result, printed by the root as a table or JSON.</summary>
internal sealed record JobResult(
    string Command,
    string Problem,
    string Layout,
    int Ranks,
    int SequenceLength,
    string Host,
    string Backend,
    double SetupSeconds,
    double WallSeconds,
    double Tflops,
    string FlopFormula,
    double VerifySeconds,
    VerificationResult Verification,
    double Tolerance,
    bool Verified,
    IReadOnlyList<RankSummary> RankSummaries)
{
    /// <summary>The backward pass's figures and verification (with --backward), else null.</summary>
    public BackwardSummary? Backward { get; init; }

    /// <summary>
    /// The passes after the first (<c>--repeats</c>), or null for a single pass. <see cref="WallSeconds"/> and
    /// <see cref="Tflops"/> are always the first pass; the per-rank figures come from the last pass run.
    /// </summary>
    public SteadyState? SteadyState { get; init; }

    /// <summary>The root process's one-time costs inside the first pass (JIT compilation, page faults).</summary>
    public FirstPassCosts? FirstPass { get; init; }

    /// <summary>
    /// Σ over steps of the slowest rank's compute and wait: the time P devices working in parallel would take. In
    /// emulation the ranks share one device, so this, not the wall time, shows a layout's balance.
    /// </summary>
    public double CriticalPathSeconds => Enumerable.Range(0, RankSummaries.Max(r => r.Steps.Count))
        .Sum(step => RankSummaries.Where(r => step < r.Steps.Count).Max(r => r.Steps[step].ComputeSeconds + r.Steps[step].WaitSeconds));
}
