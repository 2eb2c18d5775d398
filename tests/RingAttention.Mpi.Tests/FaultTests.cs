namespace RingAttention.Mpi.Tests;

/// <summary>
/// A fault on one rank ends the whole job, under each family's mpiexec, with a non-zero status and a message
/// that names the rank, well within the time limit: an exception (the rank reports it and calls MPI_Abort), an
/// exit without MPI_Finalize and SIGKILL (the launcher ends the job), and a hang (the neighbour's exchange times
/// out, names the silent rank and aborts). Every job runs under a hard limit and is killed with all its processes.
/// </summary>
public sealed class FaultTests
{
    private const int ExchangeTimeoutSeconds = 5;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(45);

    public static TheoryData<string, string> Faults()
    {
        var data = new TheoryData<string, string>();
        foreach (string family in new[] { Launchers.OpenMpi.Name, Launchers.Mpich.Name })
        {
            foreach (string kind in new[] { "throw", "exit", "hang", "kill" })
            {
                data.Add(family, kind);
            }
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Faults))]
    public void A_fault_on_one_rank_ends_the_job_with_its_message(string family, string kind)
    {
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var result = Ringattn.Mpi(launcher, 3,
            ["--seq", "600", "--heads", "2", "--head-dim", "32", "--threads", "1", "--verify-rows", "2", "--exchange-timeout", ExchangeTimeoutSeconds.ToString()],
            Limit, new Dictionary<string, string> { ["RINGATTN_FAULT"] = $"rank=1,step=1,kind={kind}" });

        Assert.False(result.TimedOut, result.ToString());
        Assert.NotEqual(0, result.ExitCode);
        Assert.True(result.Elapsed < Bound, $"the job took {result.Elapsed.TotalSeconds:F1} s to end\n{result}");
        string[] errors = result.StandardError.Split('\n');
        Assert.Contains(errors, line => line.StartsWith("rank 1: ", StringComparison.Ordinal) && line.Contains($"fault injected by RINGATTN_FAULT: rank 1, step 1: {kind}"));
        switch (kind)
        {
            case "throw":
                // A RuntimeFailureException, one of the project's own: its message alone, no type name.
                Assert.Contains("rank 1: ringattn: fault injected by RINGATTN_FAULT: rank 1, step 1: throw", result.StandardError);
                Assert.Equal(3, result.ExitCode);
                break;
            case "exit":
                // The launcher's status is the rank's 17, or the signal it then sent the others (Hydra reports either).
                Assert.Contains("exiting with status 17 without MPI_Finalize", result.StandardError);
                break;
            case "hang":
                // A neighbour's exchange times out first and names rank 1: rank 2 waits for its block, rank 0 for it
                // to take rank 0's block (messages this large need the receiver); then that neighbour aborts the job.
                Assert.Matches(
                    $"(rank 0: ringattn: (\\w+: )?rank 0, step 1: rank 1 did not receive the|rank 2: ringattn: (\\w+: )?rank 2, step 1: rank 1 did not send its) message within {ExchangeTimeoutSeconds} s",
                    result.StandardError);
                Assert.True(result.Elapsed >= TimeSpan.FromSeconds(ExchangeTimeoutSeconds), result.ToString());
                break;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(BindingTests.Families), MemberType = typeof(BindingTests))]
    public void A_rank_that_stalls_after_the_last_exchange_is_named_within_the_timeout(string family)
    {
        // Step P − 1 = 2: rank 1 finishes the ring, then hangs before verification. Its neighbour, rank 2, waits for
        // word that rank 1 arrived at the first collective after the ring, names it and ends the job.
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var result = Ringattn.Mpi(launcher, 3,
            ["--seq", "600", "--heads", "2", "--head-dim", "32", "--threads", "1", "--verify-rows", "2", "--exchange-timeout", ExchangeTimeoutSeconds.ToString()],
            Limit, new Dictionary<string, string> { ["RINGATTN_FAULT"] = "rank=1,step=2,kind=hang" });

        Assert.False(result.TimedOut, result.ToString());
        Assert.Equal(3, result.ExitCode);
        Assert.True(result.Elapsed < Bound, $"the job took {result.Elapsed.TotalSeconds:F1} s to end\n{result}");
        Assert.Contains("rank 1: fault injected by RINGATTN_FAULT: rank 1, step 2: hanging", result.StandardError);
        Assert.Matches($"rank 2: ringattn: (\\w+: )?rank 2, arrival 0 \\(before a maximum over the ranks\\): rank 1 did not arrive within {ExchangeTimeoutSeconds} s",
            result.StandardError);
    }

    [SkippableTheory]
    [MemberData(nameof(BindingTests.Families), MemberType = typeof(BindingTests))]
    public void A_bad_option_fails_every_rank_cleanly(string family)
    {
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var result = Ringattn.Mpi(launcher, 2, ["--seq", "64", "--ranks", "3"], Limit);
        Assert.False(result.TimedOut, result.ToString());
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("--ranks: expected 2 (the MPI world size) or no --ranks, actual 3", result.StandardError);
    }
}
