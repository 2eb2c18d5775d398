using RingAttention.Ring;
using Spectre.Console;

namespace RingAttention.Cli;

/// <summary>
/// How much of each ring exchange was hidden behind compute, per step and in total, for transports that observe
/// when an exchange completed (MPI's progress thread; on a GPU, events on the exchange stream). Exchange time is
/// post to completion; hidden is the part of it that ran while the step computed; exposed is the wait after
/// compute; link bandwidth is the bytes sent over the exchange time.
/// </summary>
internal static class OverlapReportPrinter
{
    private const int MaxRanksWithSteps = 8;

    public static void Print(JobResult result)
    {
        var timed = result.RankSummaries.Where(r => r.Steps.Any(s => s.ExchangeSeconds is not null)).ToArray();
        if (timed.Length == 0)
        {
            return;
        }
        bool perStep = timed.Length <= MaxRanksWithSteps;
        var table = new Table().Border(TableBorder.Simple)
            .AddColumns("rank", "step", "compute ms", "exchange ms", "hidden ms", "exposed wait ms", "hidden %", "link GB/s");
        foreach (var rank in timed)
        {
            var steps = rank.Steps.Select((timing, step) => (timing, step)).Where(s => s.timing.ExchangeSeconds is not null).ToArray();
            if (perStep)
            {
                foreach (var (timing, step) in steps)
                {
                    AddRow(table, rank.Rank.ToString(), step.ToString(), timing.ComputeSeconds, timing.ExchangeSeconds!.Value, timing.HiddenSeconds ?? 0, timing.WaitSeconds,
                        timing.ExchangeBytes);
                }
            }
            AddRow(table, rank.Rank.ToString(), "total", steps.Sum(s => s.timing.ComputeSeconds), steps.Sum(s => s.timing.ExchangeSeconds!.Value),
                steps.Sum(s => s.timing.HiddenSeconds ?? 0), steps.Sum(s => s.timing.WaitSeconds), steps.Sum(s => s.timing.ExchangeBytes));
        }
        double exchange = timed.Sum(r => r.Steps.Sum(s => s.ExchangeSeconds ?? 0)), hidden = timed.Sum(r => r.Steps.Sum(s => s.HiddenSeconds ?? 0));
        AnsiConsole.Console.WriteLine("overlap   exchange time hidden behind compute (exchange: post to completion, observed by the transport; link: bytes sent / exchange time)");
        AnsiConsole.Console.Write(table);
        AnsiConsole.Console.WriteLine($"overlap   {Percent(hidden, exchange)} of {exchange * 1000:F1} ms of exchange hidden over all ranks and steps");
    }

    private static void AddRow(Table table, string rank, string step, double compute, double exchange, double hidden, double wait, long bytes) =>
        table.AddRow(rank, step, Ms(compute), Ms(exchange), Ms(hidden), Ms(wait), Percent(hidden, exchange), exchange > 0 ? (bytes / exchange / 1e9).ToString("F2") : "-");

    private static string Ms(double seconds) => (seconds * 1000).ToString("F2");

    private static string Percent(double part, double whole) => whole > 0 ? (100 * part / whole).ToString("F1") + "%" : "-";
}
