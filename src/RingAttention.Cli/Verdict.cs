using RingAttention.Reference;

namespace RingAttention.Cli;

/// <summary>Whether a run's sampled rows agree with the float64 reference, and the run's exit code from that.</summary>
/// <param name="Verified">The errors are within the tolerances.</param>
/// <param name="Checked">Any row was checked (--verify-rows 0 checks none).</param>
/// <param name="OutputTolerance">The tolerance O was held to: the option plus one storage ulp of the largest reference value.</param>
internal sealed record Verdict(bool Verified, bool Checked, double OutputTolerance)
{
    /// <summary>Outputs may be written: verified, or nothing was checked.</summary>
    public bool Passed => Verified || !Checked;

    /// <summary>0 when <see cref="Passed"/>, else 1.</summary>
    public int ExitCode => Passed ? ExitCodes.Ok : ExitCodes.VerificationFailed;

    /// <summary>The verdict on <paramref name="verification"/> (combined over all ranks) with the option's <paramref name="tolerance"/>.</summary>
    public static Verdict Of(VerificationResult verification, double tolerance, ElementType storage)
    {
        // MaxReference holds finite reference values only, so a non-finite reference never makes the tolerance NaN.
        double outputTolerance = tolerance + StorageUlp(storage) * verification.MaxReference;
        bool verified = verification.MaxAbsError <= outputTolerance && verification.MaxLseAbsError <= tolerance;
        return new Verdict(verified, verification.Rows > 0, outputTolerance);
    }

    /// <summary>One unit in the last place of the storage type, relative: what rounding O to it may cost.</summary>
    private static double StorageUlp(ElementType type) => type switch
    {
        ElementType.Float16 => Math.Pow(2, -10),
        ElementType.BFloat16 => Math.Pow(2, -7),
        _ => 0,
    };
}
