using RingAttention.Mpi.Tests;

namespace RingAttention.Nccl.Tests;

/// <summary>
/// The NCCL ring on real GPUs, one rank per GPU under Open MPI's mpiexec: these run where GPUs and NCCL are usable
/// and skip, with the reason, elsewhere (CI has no GPU). The job must verify against the float64 reference, report
/// device-timed exchanges, and give, rank by rank, the same O and LSE bytes as the emulated ring on one GPU (the same
/// kernel calls in the same order); a hung rank must end the job by the exchange timeout; two ranks on one GPU are refused.
/// </summary>
public sealed class MultiGpuTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(300);
    private static readonly string[] Problem =
        ["--seq", "16384", "--heads", "8", "--head-dim", "128", "--causal", "--layout", "zigzag", "--dtype", "BFloat16", "--verify-rows", "8", "--digest", "--json"];

    [SkippableFact]
    public void One_rank_per_gpu_verifies_and_equals_the_emulated_ring_bitwise()
    {
        int ranks = Math.Min(Gpus.Require(2), 8);
        Launchers.Require(Launchers.OpenMpi);
        var result = Ringattn.Mpi(Launchers.OpenMpi, ranks, ["--backend", "cuda", .. Problem], Limit);
        Assert.True(result.ExitCode == 0, result.ToString());
        var job = Ringattn.Json(result);
        Assert.Contains("ring over NCCL", job.GetProperty("Host").GetString());
        Assert.True(job.GetProperty("Verified").GetBoolean(), result.ToString());
        foreach (var summary in job.GetProperty("RankSummaries").EnumerateArray())
        {
            var exchanged = summary.GetProperty("Steps").EnumerateArray().Take(ranks - 1).ToArray();
            Assert.All(exchanged, step =>
            {
                double exchange = step.GetProperty("ExchangeSeconds").GetDouble(), hidden = step.GetProperty("HiddenSeconds").GetDouble();
                Assert.True(step.GetProperty("ExchangeBytes").GetInt64() > 0);
                Assert.InRange(hidden, 0, exchange);
            });
        }

        var emulation = Ringattn.Emulation(ranks, ["--backend", "cuda", .. Problem], Limit);
        Assert.True(emulation.ExitCode == 0, emulation.ToString());
        Assert.Equal(Ringattn.Digests(Ringattn.Json(emulation)), Ringattn.Digests(job));
    }

    [SkippableFact]
    public void A_hung_rank_ends_the_job_by_the_exchange_timeout_naming_it()
    {
        Gpus.Require(2);
        Launchers.Require(Launchers.OpenMpi);
        var result = Ringattn.Mpi(Launchers.OpenMpi, 2, ["--backend", "cuda", "--exchange-timeout", "5", .. Problem], Limit,
            new Dictionary<string, string> { ["RINGATTN_FAULT"] = "rank=1,step=0,kind=hang" });
        Assert.False(result.TimedOut, result.ToString());
        Assert.NotEqual(0, result.ExitCode);
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(90), result.ToString());
        // Rank 0 waits either in its post (NCCL connects the pair at their first exchange) or for the transfer.
        Assert.Matches("rank 0: ringattn: (rank 0, step 0: the NCCL exchange did not complete within 5 s: rank 1 did not send or receive|" +
            "rank 0, step 0: posting the NCCL exchange did not return within 5 s: rank 1 did not take part)", result.StandardError);
    }

    [SkippableFact]
    public void Two_ranks_given_the_same_gpu_are_refused_naming_both()
    {
        Gpus.Require(1);
        Launchers.Require(Launchers.OpenMpi);
        var result = Ringattn.Mpi(Launchers.OpenMpi, 2, ["--backend", "cuda", .. Problem], Limit,
            new Dictionary<string, string> { ["CUDA_VISIBLE_DEVICES"] = "0" });
        Assert.False(result.TimedOut, result.ToString());
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"ranks 0 and 1 on host {Environment.MachineName} would share one GPU (device 0, GPU-", result.StandardError);
    }
}
