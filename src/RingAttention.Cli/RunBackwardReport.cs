using RingAttention.Reference;

namespace RingAttention.Cli;

/// <summary>The human-readable lines of <c>ringattn run --backward</c>, after the forward's report.</summary>
internal static class RunBackwardReport
{
    public static void Print(BackwardSummary backward)
    {
        Console.WriteLine($"backward  {backward.WallSeconds:F3} s wall, {backward.Gflops:F1} GFLOP/s effective ({backward.FlopFormula}); per rank at most: " +
            $"{Mib(backward.MaxBytesSent)} MiB sent (K, V and fp32 dK/dV), {backward.MaxExposedSeconds:F3} s exposed exchange wait, {Mib(backward.MaxBytesHeld)} MiB held");
        if (backward.QueryGrad.Rows == 0 && backward.KeyGrad.Rows == 0)
        {
            Console.WriteLine("verify    gradients skipped (--verify-rows 0)");
        }
        else
        {
            Console.WriteLine($"verify    dQ on {backward.QueryGrad.Rows} sampled query row(s) vs exact float64: {Line(backward.QueryGrad)}");
            Console.WriteLine($"verify    dK on {backward.KeyGrad.Rows} sampled key row(s) vs float64 (query rows' stored fp32 LSE and O): {Line(backward.KeyGrad)}");
            Console.WriteLine($"verify    dV on {backward.ValueGrad.Rows} sampled key row(s), same reference: {Line(backward.ValueGrad)}");
            Console.WriteLine(backward.Verified
                ? $"verify    gradients VERIFIED (tolerance {backward.Tolerance:E2})"
                : $"verify    gradients FAILED (tolerance {backward.Tolerance:E2})");
            Console.WriteLine($"verify    gradient verification {backward.VerifySeconds:F3} s");
        }
        if (backward.Written is not null)
        {
            Console.WriteLine(backward.Written);
        }
    }

    private static string Line(VerificationResult result) =>
        $"max abs err {result.MaxAbsError:E2}, max |ref| {result.MaxReference:E2}, rel {result.MaxRelativeError:E2}";

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F1");
}
