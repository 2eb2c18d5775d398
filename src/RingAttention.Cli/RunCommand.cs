using System.Diagnostics;
using System.Text.Json;
using RingAttention.Inputs;
using RingAttention.Layouts;
using RingAttention.Reference;
using RingAttention.Ring;
using Spectre.Console;

namespace RingAttention.Cli;

/// <summary><c>ringattn run</c>: one forward pass around the ring, verified on sampled rows.</summary>
internal static class RunCommand
{
    private const double DefaultTolerance = 1e-4;

    public static int Execute(RunOptions run)
    {
        using var files = InputSources.OpenFiles(run);
        OutputFiles.Check(run);
        var options = ToAttentionOptions(run);
        Guard(run.Ranks >= 1, "--ranks", "at least 1", run.Ranks);
        Guard(run.SequenceLength >= 1, "--seq", "at least 1", run.SequenceLength);
        Guard(run.VerifyRows >= 0, "--verify-rows", "at least 0", run.VerifyRows);
        Guard(run.Threads is null or >= 1, "--threads", "at least 1", run.Threads);
        Guard(run.Tolerance is null or > 0, "--tolerance", "a positive number", run.Tolerance);

        // The host opens the backend before anything is allocated (under MPI after joining the job, so that the
        // rank's GPU follows its place on the node) and sets run.Ranks to the world size under MPI.
        using var host = JobHosts.Create(run);
        var backend = host.Backend;
        var layout = SequenceLayouts.Create(run.Layout, run.SequenceLength, run.Ranks);
        var source = InputSources.Create(run, options, files);

        long setupStart = Stopwatch.GetTimestamp();
        var ranks = host.Transports.Select(transport =>
        {
            var tensors = RankTensors.Allocate(backend, options, layout.LocalLength(transport.Rank));
            ShardLoader.Load(source, options, layout, transport.Rank, backend, tensors);
            return new RingRank(options, layout, transport, backend, tensors);
        }).ToArray();
        double setupSeconds = Stopwatch.GetElapsedTime(setupStart).TotalSeconds;

        try
        {
            bool showProgress = host.IsRoot && !run.Json && !Console.IsOutputRedirected;
            long start = Stopwatch.GetTimestamp();
            var reports = showProgress ? ForwardWithProgress(ranks) : RingDriver.Forward(ranks);
            double wallSeconds = host.MaxOverProcesses(Stopwatch.GetElapsedTime(start).TotalSeconds);

            long verifyStart = Stopwatch.GetTimestamp();
            var samples = Verification.SampleRows(options.Batch, run.SequenceLength, run.VerifyRows);
            var summaries = ranks.Zip(reports, (rank, report) => RankSummary.From(report,
                Verification.Check(options, layout, source, backend, rank, samples, Environment.ProcessorCount))
                with { OutputDigest = run.Digest ? OutputDigests.Of(backend, rank) : null }).ToArray();
            double verifySeconds = host.MaxOverProcesses(Stopwatch.GetElapsedTime(verifyStart).TotalSeconds);
            string? written = OutputFiles.Write(run, host, backend, options, layout, ranks);

            var all = host.Gather(summaries);
            if (!host.IsRoot)
            {
                return ExitCodes.Ok;
            }
            var verification = all.Aggregate(VerificationResult.None, (acc, s) => acc.Combine(s.Verification));
            double tolerance = run.Tolerance ?? DefaultTolerance;
            double outputTolerance = tolerance + StorageUlp(options.ElementType) * verification.MaxReference;
            bool verified = verification.MaxAbsError <= outputTolerance && verification.MaxLseAbsError <= tolerance;
            var result = new JobResult(
                "ringattn " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
                options.ToString(), layout.Name, run.Ranks, run.SequenceLength, host.Description, backend.Description,
                setupSeconds, wallSeconds, options.ForwardFlops(run.SequenceLength) / wallSeconds / 1e12, verifySeconds,
                verification, outputTolerance, verified, all);
            if (run.Json)
            {
                Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                JobReportPrinter.Print(result);
                if (written is not null)
                {
                    Console.WriteLine(written);
                }
                OverlapReportPrinter.Print(result);
            }
            return verified || verification.Rows == 0 ? ExitCodes.Ok : ExitCodes.VerificationFailed;
        }
        finally
        {
            foreach (var rank in ranks)
            {
                rank.Dispose();
                rank.Tensors.Dispose();
            }
        }
    }

    private static RankReport[] ForwardWithProgress(RingRank[] ranks)
    {
        RankReport[] reports = [];
        AnsiConsole.Progress().AutoClear(true).Start(context =>
        {
            var task = context.AddTask("ring steps", maxValue: ranks[0].RingSize);
            reports = RingDriver.Forward(ranks, new StepCounter(step => task.Value = step));
        });
        return reports;
    }

    private sealed class StepCounter(Action<int> onStep) : IProgress<int>
    {
        public void Report(int value) => onStep(value);
    }

    /// <summary>One unit in the last place of the storage type, relative: what rounding O to it may cost.</summary>
    private static double StorageUlp(ElementType type) => type switch
    {
        ElementType.Float16 => Math.Pow(2, -10),
        ElementType.BFloat16 => Math.Pow(2, -7),
        _ => 0,
    };

    private static AttentionOptions ToAttentionOptions(RunOptions run)
    {
        var options = new AttentionOptions
        {
            Batch = run.Batch,
            Heads = run.Heads,
            KvHeads = run.KvHeads,
            HeadDim = run.HeadDim,
            Causal = run.Causal,
            SoftmaxScale = run.Scale,
            ElementType = run.ElementType,
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            string message = CommandRunner.PlainMessage(e);
            string prefix = e.ParamName + ":";
            throw new ArgumentException(OptionName(e.ParamName) + ":" + (message.StartsWith(prefix, StringComparison.Ordinal) ? message[prefix.Length..] : " " + message), e);
        }
        return options;
    }

    private static string OptionName(string? parameter) => parameter switch
    {
        nameof(AttentionOptions.Batch) => "--batch",
        nameof(AttentionOptions.Heads) => "--heads",
        nameof(AttentionOptions.KvHeads) => "--kv-heads",
        nameof(AttentionOptions.HeadDim) => "--head-dim",
        nameof(AttentionOptions.SoftmaxScale) => "--scale",
        _ => parameter ?? "option",
    };

    private static void Guard(bool condition, string option, string expected, object? actual)
    {
        if (!condition)
        {
            throw new ArgumentException($"{option}: expected {expected}, actual {actual}.");
        }
    }
}
