using System.Diagnostics;
using System.Text.Json;
using RingAttention.Inputs;
using RingAttention.Layouts;
using RingAttention.Reference;
using RingAttention.Ring;
using Spectre.Console;

namespace RingAttention.Cli;

/// <summary>
/// <c>ringattn run</c>: one forward pass around the ring, verified on sampled rows (with --backward, then the
/// backward pass, verified too: <see cref="RunBackward"/>). The composition root: checked,
/// immutable options → the inputs and the job they describe → the host (emulation or MPI) → the pass → the verdict,
/// the outputs (only when verified, or with --write-on-fail) and the report.
/// </summary>
internal static class RunCommand
{
    private const double DefaultTolerance = 1e-4;

    public static int Execute(RunOptions given, GivenArguments arguments)
    {
        var run = given with { Given = arguments };
        RunOptionChecks.Check(run);
        RunBackward.Check(run);
        var (files, resolved) = InputSources.OpenFiles(run);
        using var _ = files;
        run = resolved;
        // The fp32 CUDA kernel runs on SIMT cores, 10–40× slower than the 16-bit tensor-core kernels: with random inputs
        // and no --dtype, --backend cuda stores BFloat16 (the files' dtype rules when inputs are given).
        bool cudaDefaultsToBf16 = run.Backend == BackendKind.Cuda && files is null && !run.WasGiven("dtype");
        if (cudaDefaultsToBf16)
        {
            run = run with { ElementType = ElementType.BFloat16 };
        }
        OutputFiles.Check(run);
        var options = ToAttentionOptions(run);

        // The host opens the backend before anything is allocated (under MPI after joining the job, so that the
        // rank's GPU follows its place on the node); under MPI the ring is the world.
        using var host = JobHosts.Create(run);
        var backend = host.Backend;
        if (cudaDefaultsToBf16 && host.IsRoot)
        {
            Console.Error.WriteLine("ringattn: --backend cuda: BFloat16 storage (the tensor-core kernels); --dtype Float32 runs the fp32 SIMT kernel");
        }
        var job = new JobDescription(options, run.SequenceLength, SequenceLayouts.Create(run.Layout, run.SequenceLength, host.RingSize));
        var layout = job.Layout;
        var source = InputSources.Create(run, options, files);
        var nonFinite = files is null ? [] : host.Transports.Select(t => NonFiniteInputs.Scan(source, options, layout, t.Rank)).ToArray();
        CheckFinite(run, host, nonFinite);

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
            var firstPassStart = FirstPassCosts.Now();
            long start = Stopwatch.GetTimestamp();
            var reports = showProgress ? ForwardWithProgress(ranks) : RingDriver.Forward(ranks);
            host.RingFinished();
            double wallSeconds = host.MaxOverProcesses(Stopwatch.GetElapsedTime(start).TotalSeconds);
            var firstPassCosts = FirstPassCosts.Since(firstPassStart);
            var (steadyReports, steady) = SteadyState.Measure(run, host, ranks, job.ForwardFlops);
            reports = steadyReports ?? reports;

            long verifyStart = Stopwatch.GetTimestamp();
            var samples = Verification.SampleRows(options.Batch, run.SequenceLength, run.VerifyRows);
            var summaries = ranks.Select((rank, i) => RankSummary.From(reports[i],
                Verification.Check(options, layout, source, backend, rank, samples, Environment.ProcessorCount))
                with
                {
                    OutputDigest = run.Digest ? OutputDigests.Of(backend, rank) : null,
                    NonFiniteInputs = nonFinite.Length > 0 ? nonFinite[i].Count : 0,
                    FirstNonFiniteInput = nonFinite.Length > 0 ? nonFinite[i].First : null,
                }).ToArray();
            double verifySeconds = host.MaxOverProcesses(Stopwatch.GetElapsedTime(verifyStart).TotalSeconds);

            // Every process takes the same verdict (from the maxima over all processes) before any output is written.
            var local = summaries.Aggregate(VerificationResult.None, (acc, s) => acc.Combine(s.Verification));
            var global = new VerificationResult((int)host.MaxOverProcesses(local.Rows), host.MaxOverProcesses(local.MaxAbsError),
                host.MaxOverProcesses(local.MaxReference), host.MaxOverProcesses(local.MaxLseAbsError));
            var verdict = Verdict.Of(global, run.Tolerance ?? DefaultTolerance, options.ElementType);
            string? written = verdict.Passed || run.WriteOnFail
                ? OutputFiles.Write(run, host, backend, job, ranks)
                : run.OutputFile is null && run.LseOutputFile is null ? null
                : "output    not written: verification failed, files at --out/--lse-out are untouched (--write-on-fail writes them anyway)";

            var backward = run.Backward
                ? RunBackward.Execute(run, host, backend, job, ranks, source, run.Tolerance ?? DefaultTolerance)
                : null;
            int exitCode = Math.Max(verdict.ExitCode, backward?.ExitCode ?? ExitCodes.Ok);

            var all = host.Gather(summaries);
            if (!host.IsRoot)
            {
                return exitCode;
            }
            var verification = all.Aggregate(VerificationResult.None, (acc, s) => acc.Combine(s.Verification));
            var result = new JobResult(
                run.Given.CommandText,
                options.ToString(), layout.Name, job.Ranks, run.SequenceLength, host.Description, backend.Description,
                setupSeconds, wallSeconds, job.ForwardFlops / wallSeconds / 1e12, job.FlopFormula, verifySeconds,
                verification, verdict.OutputTolerance, verdict.Verified, all) { Backward = backward, FirstPass = firstPassCosts, SteadyState = steady };
            PrintNonFiniteWarning(all);
            if (run.Json)
            {
                Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
            }
            else
            {
                JobReportPrinter.Print(result);
                if (written is not null)
                {
                    Console.WriteLine(written);
                }
                OverlapReportPrinter.Print(result);
                if (backward is not null)
                {
                    RunBackwardReport.Print(backward);
                }
            }
            return exitCode;
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

    /// <summary>With --check-finite, non-finite inputs on any process end the job on every process before any compute.</summary>
    private static void CheckFinite(RunOptions run, IJobHost host, (long Count, NonFiniteValue? First)[] hosted)
    {
        if (!run.CheckFinite)
        {
            return;
        }
        long count = hosted.Sum(h => h.Count);
        if (host.AllSucceeded(count == 0))
        {
            return;
        }
        var first = hosted.Select(h => h.First).OfType<NonFiniteValue>().MinBy(v => v.Order);
        throw new InvalidInputException("--check-finite", first is null
            ? "--check-finite: another rank's inputs hold NaN or ±inf"
            : $"--check-finite: expected finite inputs, actual {count} NaN or ±inf value(s) in this process's rows, the first {first}");
    }

    private static void PrintNonFiniteWarning(IReadOnlyList<RankSummary> all)
    {
        long count = all.Sum(s => s.NonFiniteInputs);
        if (count > 0)
        {
            var first = all.Select(s => s.FirstNonFiniteInput).OfType<NonFiniteValue>().MinBy(v => v.Order);
            Console.Error.WriteLine($"ringattn: warning: the inputs hold {count} NaN or ±inf value(s), the first {first}; " +
                "NaN propagates to O and LSE as in PyTorch (--check-finite makes this an error)");
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
            // The library names its parameters; the user knows the options.
            string message = CommandRunner.PlainMessage(e);
            string prefix = e.ParamName + ":";
            string option = OptionName(e.ParamName);
            throw new InvalidInputException(option, option + ":" + (message.StartsWith(prefix, StringComparison.Ordinal) ? message[prefix.Length..] : " " + message), e);
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
}
