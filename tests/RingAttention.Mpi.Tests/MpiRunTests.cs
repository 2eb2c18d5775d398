using System.Collections.Concurrent;
using System.Text.Json;

namespace RingAttention.Mpi.Tests;

/// <summary>
/// ringattn under each MPI family's mpiexec, one rank per process, P = 1 to 4, every layout, causal and not, an
/// uneven N with batch 2 and grouped KV heads: every job must verify against the float64 reference and produce,
/// rank by rank, the same O and LSE bytes as the emulation mode with the same seed (the CPU kernel is
/// deterministic for identical calls, and each rank makes identical calls in both modes).
/// </summary>
public sealed class MpiRunTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);
    private static readonly ConcurrentDictionary<(int, string, bool), string[]> EmulationDigests = new();

    public static TheoryData<string, int, string, bool> Jobs()
    {
        var data = new TheoryData<string, int, string, bool>();
        foreach (string family in new[] { Launchers.OpenMpi.Name, Launchers.Mpich.Name })
        {
            for (int ranks = 1; ranks <= 4; ranks++)
            {
                foreach (string layout in new[] { "contiguous", "zigzag", "striped" })
                {
                    foreach (bool causal in new[] { false, true })
                    {
                        data.Add(family, ranks, layout, causal);
                    }
                }
            }
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Jobs))]
    public void Mpi_job_verifies_and_equals_emulation_bitwise(string family, int ranks, string layout, bool causal)
    {
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        string[] problem = Problem(layout, causal);

        var result = Ringattn.Mpi(launcher, ranks, problem, Limit);
        Assert.True(result.ExitCode == 0, result.ToString());
        var job = Ringattn.Json(result);
        Assert.StartsWith($"MPI: {ranks} process(es)", job.GetProperty("Host").GetString());
        Assert.Equal(ranks, job.GetProperty("Ranks").GetInt32());
        Assert.True(job.GetProperty("Verified").GetBoolean(), result.ToString());
        var summaries = job.GetProperty("RankSummaries").EnumerateArray().ToArray();
        Assert.Equal(Enumerable.Range(0, ranks), summaries.Select(s => s.GetProperty("Rank").GetInt32()));
        Assert.Equal(Sequence, summaries.Sum(s => s.GetProperty("LocalLength").GetInt32()));
        Assert.Equal(VerifyRows, summaries.Sum(s => s.GetProperty("Verification").GetProperty("Rows").GetInt32()));
        foreach (var summary in summaries)
        {
            // Every rank sent its own block at every step but the last, and timed each of those exchanges.
            var exchanged = summary.GetProperty("Steps").EnumerateArray().Take(ranks - 1).ToArray();
            Assert.All(exchanged, step => Assert.True(step.GetProperty("ExchangeBytes").GetInt64() > 0));
            Assert.All(exchanged, step => Assert.True(step.GetProperty("ExchangeSeconds").ValueKind == JsonValueKind.Number));
        }

        string[] expected = EmulationDigests.GetOrAdd((ranks, layout, causal), _ =>
        {
            var emulation = Ringattn.Emulation(ranks, problem, Limit);
            Assert.True(emulation.ExitCode == 0, emulation.ToString());
            return Ringattn.Digests(Ringattn.Json(emulation));
        });
        Assert.Equal(expected, Ringattn.Digests(job));
    }

    private const int Sequence = 203;
    private const int VerifyRows = 6;

    private static string[] Problem(string layout, bool causal) =>
    [
        "--seq", Sequence.ToString(), "--batch", "2", "--heads", "4", "--kv-heads", "2", "--head-dim", "24", "--layout", layout,
        "--seed", "7", "--verify-rows", VerifyRows.ToString(), "--threads", "1", "--json", "--digest", .. causal ? new[] { "--causal" } : [],
    ];
}
