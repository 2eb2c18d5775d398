using System.Diagnostics;
using System.Text.Json;
using RingAttention.Planning;

namespace RingAttention.Bench;

/// <summary>
/// Scaling cases as real processes: <c>launch/mpirun.sh -n P ringattn run --transport mpi ... --json</c> (the
/// wrapper adds --allow-run-as-root as root and --oversubscribe when P exceeds the cores), each rank with
/// cores/P kernel threads (at least one), verification off; the figures come from rank 0's JSON report. A backward case
/// adds --backward and reads the report's Backward object: it gives the slowest process's backward wall time (first post
/// to last cast; the processes run at once, so this is the backward's critical path), the most one rank waited and the
/// most one rank sent, but no per-step or per-rank figures.
/// </summary>
internal static class MpiScaling
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(15);

    /// <summary>The best of <paramref name="repeats"/> launches of one case (by critical path).</summary>
    public static ScalingRun Run(ScalingCase c, AttentionOptions shape, string mpiexec, int repeats, string dtype, PassDirection direction)
    {
        string root = Repository.Root;
        string ringattn = Path.Combine(root, "src", "RingAttention.Cli", "bin", "Release", "net10.0", "ringattn");
        if (!File.Exists(ringattn))
        {
            throw new InvalidOperationException($"{ringattn} not found: build it first (dotnet build src/RingAttention.Cli -c Release)");
        }
        int cores = Environment.ProcessorCount;
        int threads = Math.Max(1, cores / c.Ranks);
        var options = c.Options(shape);
        string[] arguments =
        [
            Path.Combine(root, "launch", "mpirun.sh"), "--mpiexec", mpiexec, "-n", c.Ranks.ToString(), ringattn, "run", "--transport", "mpi",
            "--ranks", c.Ranks.ToString(), "--seq", c.SequenceLength.ToString(), "--heads", options.Heads.ToString(), "--kv-heads", options.EffectiveKvHeads.ToString(),
            "--head-dim", options.HeadDim.ToString(), "--dtype", options.ElementType.ToString(), "--layout", c.LayoutName, "--verify-rows", "0",
            "--threads", threads.ToString(), "--json", .. (c.Causal ? new[] { "--causal" } : []),
            .. (direction == PassDirection.Backward ? new[] { "--backward" } : []),
        ];
        ScalingRun? best = null;
        for (int i = 0; i < repeats; i++)
        {
            string stdout = Launch(arguments);
            var run = direction == PassDirection.Backward ? ParseBackward(stdout, c, options, threads, cores, dtype) : Parse(stdout, c, options, threads, cores, dtype);
            if (best is null || run.CriticalPathSeconds < best.CriticalPathSeconds)
            {
                best = run;
            }
        }
        return best!;
    }

    private static string Launch(string[] arguments)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("bash did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"mpirun.sh {string.Join(' ', arguments.Skip(1))} ran past {Timeout.TotalMinutes} min and was killed");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"mpirun.sh exited with {process.ExitCode}: {stderr.Result.Trim()}");
        }
        return stdout.Result;
    }

    private static JsonDocument Report(string stdout)
    {
        int begin = stdout.IndexOf('{');
        return JsonDocument.Parse(begin < 0 ? stdout : stdout[begin..]);
    }

    /// <summary>A backward case from the report's Backward object (every rank sends the same when P divides N, so P × the most one sent).</summary>
    private static ScalingRun ParseBackward(string stdout, ScalingCase c, AttentionOptions options, int threads, int cores, string dtype)
    {
        using var json = Report(stdout);
        var backward = json.RootElement.GetProperty("Backward");
        if (backward.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidOperationException("ringattn run --backward --json reported no Backward object");
        }
        double wall = backward.GetProperty("WallSeconds").GetDouble();
        return new ScalingRun("mpi", c.KindName, PassDirection.Backward.Name(), c.Causal, c.LayoutName, c.Ranks, c.SequenceLength, options.Heads,
            options.EffectiveKvHeads, options.HeadDim, dtype, threads, c.Ranks > cores, wall, wall, backward.GetProperty("MaxExposedSeconds").GetDouble(),
            null, null, c.Ranks * backward.GetProperty("MaxBytesSent").GetInt64(), [], double.NaN);
    }

    private static ScalingRun Parse(string stdout, ScalingCase c, AttentionOptions options, int threads, int cores, string dtype)
    {
        using var json = Report(stdout);
        var root = json.RootElement;
        var ranks = root.GetProperty("RankSummaries").EnumerateArray().ToList();
        var steps = ranks.Select(r => (IReadOnlyList<Ring.StepTiming>)r.GetProperty("Steps").EnumerateArray().Select(s => new Ring.StepTiming(
            s.GetProperty("ComputeSeconds").GetDouble(), s.GetProperty("WaitSeconds").GetDouble(), s.GetProperty("ExchangeBytes").GetInt64())
        {
            ExchangeSeconds = Nullable(s, "ExchangeSeconds"),
            HiddenSeconds = Nullable(s, "HiddenSeconds"),
        }).ToList()).ToList();
        var (critical, exposed) = CriticalPath.Of(steps);
        double? exchange = steps.SelectMany(s => s).Any(s => s.ExchangeSeconds is not null) ? steps.SelectMany(s => s).Sum(s => s.ExchangeSeconds ?? 0) : null;
        double? hidden = steps.SelectMany(s => s).Any(s => s.HiddenSeconds is not null) ? steps.SelectMany(s => s).Sum(s => s.HiddenSeconds ?? 0) : null;
        return new ScalingRun("mpi", c.KindName, "forward", c.Causal, c.LayoutName, c.Ranks, c.SequenceLength, options.Heads, options.EffectiveKvHeads,
            options.HeadDim, dtype, threads, c.Ranks > cores, root.GetProperty("WallSeconds").GetDouble(), critical, exposed, exchange, hidden,
            steps.SelectMany(s => s).Sum(s => s.ExchangeBytes), steps.Select(s => s.Sum(x => x.ComputeSeconds)).ToList(), double.NaN);
    }

    private static double? Nullable(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;
}
