using System.Text.Json;

namespace RingAttention.Mpi.Tests;

/// <summary>Runs the ringattn CLI (alone or under mpiexec) and reads the JSON job result rank 0 prints.</summary>
internal static class Ringattn
{
    public static ChildResult Emulation(int ranks, IEnumerable<string> arguments, TimeSpan limit) =>
        ChildProcess.Run(Launchers.Ringattn, ["run", "--transport", "emulation", "--ranks", ranks.ToString(), .. arguments], limit);

    public static ChildResult Mpi(Launcher launcher, int ranks, IEnumerable<string> arguments, TimeSpan limit,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var (file, command) = Launchers.Command(launcher, ranks, Launchers.Ringattn, ["run", .. arguments]);
        return ChildProcess.Run(file, command, limit, environment);
    }

    /// <summary>The job result: the JSON object in standard output (launchers may add lines around it).</summary>
    public static JsonElement Json(ChildResult result)
    {
        string output = result.StandardOutput;
        int start = output.IndexOf('{'), end = output.LastIndexOf('}');
        Assert.True(start >= 0 && end > start, "no JSON result in the output:\n" + result);
        return JsonDocument.Parse(output[start..(end + 1)]).RootElement.Clone();
    }

    /// <summary>Each rank's output digest, in rank order.</summary>
    public static string[] Digests(JsonElement job) =>
        job.GetProperty("RankSummaries").EnumerateArray()
            .OrderBy(rank => rank.GetProperty("Rank").GetInt32())
            .Select(rank => rank.GetProperty("OutputDigest").GetString()!)
            .ToArray();
}
