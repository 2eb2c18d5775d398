using RingAttention.Kernels;

namespace RingAttention.Ring;

/// <summary>The clock marks of one step: around its kernels, around its exchange's post and wait, and the exchange's own.</summary>
internal readonly record struct StepMarks(IClockMark? ComputeStart, IClockMark? ComputeEnd) : IDisposable
{
    public PendingStep Pending { get; init; }

    public IClockMark? WaitStart { get; init; }

    public IClockMark? WaitEnd { get; init; }

    /// <summary>
    /// Compute is the span around the kernels; the exposed wait is the post (a transport that moves data while
    /// posting, like the in-process copy, shows its time there) plus the wait. The exchange spans [post,
    /// completion] by the transport's own marks, and what of it ran before the rank began to wait was hidden
    /// behind compute.
    /// </summary>
    public StepTiming Timing()
    {
        double compute = ComputeStart is null ? 0 : ComputeEnd!.SecondsSince(ComputeStart);
        if (Pending.Exchange is not { } exchange || WaitStart is null)
        {
            return new StepTiming(compute, 0, 0);
        }
        double wait = Pending.PostEnd!.SecondsSince(Pending.PostStart!) + WaitEnd!.SecondsSince(WaitStart);
        using var posted = exchange.Posted;
        using var completed = exchange.Completed;
        double span = completed.SecondsSince(posted);
        return new StepTiming(compute, wait, Pending.Bytes)
        {
            ExchangeSeconds = span,
            HiddenSeconds = Math.Clamp(WaitStart.SecondsSince(posted), 0, span),
        };
    }

    public void Dispose()
    {
        ComputeStart?.Dispose();
        ComputeEnd?.Dispose();
        Pending.PostStart?.Dispose();
        Pending.PostEnd?.Dispose();
        WaitStart?.Dispose();
        WaitEnd?.Dispose();
    }
}
