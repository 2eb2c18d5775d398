namespace RingAttention.Cli;

/// <summary>
/// Range checks of <c>ringattn run</c>'s numeric options, before anything starts and the same whatever the
/// transport: emulation and MPI accept and refuse exactly the same values.
/// </summary>
internal static class RunOptionChecks
{
    /// <summary>
    /// Most virtual ranks in emulation. Every rank is a state machine in this process that takes P steps, so the
    /// bound keeps a run's bookkeeping (P² steps, however small the problem) to seconds; a layout with more ranks than
    /// tokens leaves ranks empty, which costs them nothing but those steps. Under MPI the ring size is the world size.
    /// </summary>
    public const int MaxEmulatedRanks = 1024;

    /// <summary>Longest --exchange-timeout: a week (MPI collectives wait twice as long; far from TimeSpan's limit).</summary>
    public const double MaxExchangeTimeoutSeconds = 7 * 24 * 3600;

    /// <summary>Most CPU threads (the CPU backend's own limit).</summary>
    public const int MaxThreads = 4096;

    /// <summary>Checks every numeric option of <paramref name="run"/>.</summary>
    public static void Check(RunOptions run)
    {
        OptionCheck.That(run.Ranks is >= 1 and <= MaxEmulatedRanks, "--ranks", $"1 to {MaxEmulatedRanks}", run.Ranks);
        OptionCheck.That(run.SequenceLength >= 1, "--seq", "at least 1", run.SequenceLength);
        OptionCheck.That(run.VerifyRows >= 0, "--verify-rows", "at least 0", run.VerifyRows);
        OptionCheck.That(run.Threads is null or (>= 1 and <= MaxThreads), "--threads", $"1 to {MaxThreads}", run.Threads);
        OptionCheck.That(run.Tolerance is null || (double.IsFinite(run.Tolerance.Value) && run.Tolerance > 0), "--tolerance", "a finite positive number", run.Tolerance);
        OptionCheck.That(run.Scale is null || float.IsFinite(run.Scale.Value), "--scale", "a finite number", run.Scale);
        OptionCheck.That(double.IsFinite(run.ExchangeTimeout) && run.ExchangeTimeout > 0 && run.ExchangeTimeout <= MaxExchangeTimeoutSeconds,
            "--exchange-timeout", $"seconds in (0, {MaxExchangeTimeoutSeconds}]", run.ExchangeTimeout);
        OptionCheck.That(run.Device >= 0, "--device", "a device ordinal, at least 0", run.Device);
        OptionCheck.That(run.Repeats is >= 0 and <= RunOptions.MaxRepeats, "--repeats", $"0 to {RunOptions.MaxRepeats}", run.Repeats);
        OptionCheck.That(run.Warmup is >= 0 and <= RunOptions.MaxRepeats, "--warmup", $"0 to {RunOptions.MaxRepeats}", run.Warmup);
        OptionCheck.That(run.Warmup == 0 || run.Repeats > 0, "--warmup", "0 unless --repeats is at least 1 (warm-up passes precede timed ones)", run.Warmup);
    }
}
