using Spectre.Console;

namespace RingAttention.Cli;

/// <summary>Human-readable report of a run: configuration, timing, per-rank table, verification.</summary>
internal static class JobReportPrinter
{
    public static void Print(JobResult result)
    {
        var console = AnsiConsole.Console;
        console.MarkupLine($"[bold]{Markup.Escape(TerminalText.Escape(result.Command))}[/]");
        console.WriteLine($"problem   N={result.SequenceLength} {result.Problem}");
        console.WriteLine($"ring      {result.Layout} layout, P={result.Ranks}; {result.Host}");
        console.WriteLine($"backend   {result.Backend}");
        console.WriteLine($"setup     {result.SetupSeconds:F3} s (each rank made or read only its own shard)");
        if (result.SteadyState is { } steady)
        {
            console.WriteLine($"forward   first pass {result.WallSeconds:F3} s wall, {result.Tflops * 1000:F1} GFLOP/s effective ({result.FlopFormula}){FirstPassNote(result.FirstPass)}");
            console.WriteLine($"steady    {steady.Passes} timed pass(es) after {steady.Warmup} warm-up: best {steady.BestSeconds:F3} s, {steady.BestTflops * 1000:F1} GFLOP/s; " +
                $"median {steady.MedianSeconds:F3} s, {steady.MedianTflops * 1000:F1} GFLOP/s (per-rank figures below: the last pass)");
        }
        else
        {
            console.WriteLine($"forward   {result.WallSeconds:F3} s wall, {result.Tflops * 1000:F1} GFLOP/s effective ({result.FlopFormula})");
        }

        console.WriteLine($"balance   critical path {result.CriticalPathSeconds:F3} s (Σ over steps of the slowest rank: the time with one device per rank)");

        var table = new Table().Border(TableBorder.Simple)
            .AddColumns("rank", "rows", "compute s", "exchange wait s", "finalize s", "kernel calls", "sent MiB", "held MiB", "verified rows", "max abs err");
        foreach (var rank in result.RankSummaries)
        {
            table.AddRow(
                rank.Rank.ToString(), rank.LocalLength.ToString(), rank.ComputeSeconds.ToString("F3"), rank.WaitSeconds.ToString("F3"),
                rank.FinalizeSeconds.ToString("F3"), rank.KernelCalls.ToString(), Mib(rank.BytesSent), Mib(rank.BytesHeld),
                rank.Verification.Rows.ToString(), rank.Verification.Rows == 0 ? "-" : rank.Verification.MaxAbsError.ToString("E2"));
        }
        console.Write(table);
        if (result.RankSummaries.All(rank => rank.OutputDigest is not null))
        {
            // One line however wide the terminal (scripts compare it): past the console's wrapping.
            Console.WriteLine($"digests   {string.Join(' ', result.RankSummaries.Select(rank => rank.OutputDigest))} (O and LSE bytes of ranks 0..{result.RankSummaries.Count - 1}, --digest)");
        }

        var v = result.Verification;
        if (v.Rows == 0)
        {
            console.WriteLine("verify    skipped (--verify-rows 0)");
            return;
        }
        string verdict = result.Verified ? "[green]PASS[/]" : "[red]FAIL[/]";
        console.MarkupLine(
            $"verify    {verdict} {v.Rows} rows vs float64 reference: max abs err {v.MaxAbsError:E2} (tolerance {result.Tolerance:E2}), " +
            $"max rel err {v.MaxRelativeError:E2}, LSE max abs err {v.MaxLseAbsError:E2}; {result.VerifySeconds:F1} s");
    }

    private static string FirstPassNote(FirstPassCosts? costs) => costs is null ? "" :
        $"; it included {costs.JitSeconds * 1e3:F0} ms of JIT compilation ({costs.MethodsCompiled} methods, on all threads)" +
        (costs.PageFaults is long faults ? $" and {faults} page faults" : "");

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F1");
}
