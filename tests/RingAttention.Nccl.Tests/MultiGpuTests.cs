using RingAttention.Mpi.Tests;

namespace RingAttention.Nccl.Tests;

/// <summary>
/// The NCCL ring, one rank per GPU under each MPI family's mpiexec: these run where GPUs and NCCL are usable, real
/// ones or the software GPU of tools/gpu-emulator (CI, with a problem small enough for the CPU emulator), and skip,
/// with the reason, elsewhere. The job must verify against the float64 reference, report device-timed exchanges, and
/// give, rank by rank, the same O and LSE bytes as the emulated ring on one GPU (the same kernel calls in the same
/// order); a hung or killed rank must end the job naming it; two ranks on one GPU are refused.
/// </summary>
public sealed class MultiGpuTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(300);
    private static readonly string[] Problem = Gpus.IsSoftware
        ? ["--seq", "384", "--heads", "2", "--kv-heads", "1", "--head-dim", "64", "--causal", "--layout", "zigzag", "--dtype", "BFloat16", "--verify-rows", "8", "--digest", "--json"]
        : ["--seq", "16384", "--heads", "8", "--head-dim", "128", "--causal", "--layout", "zigzag", "--dtype", "BFloat16", "--verify-rows", "8", "--digest", "--json"];

    public static TheoryData<string> Families => BootstrapTests.Families;

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void One_rank_per_gpu_verifies_and_equals_the_emulated_ring_bitwise(string family)
    {
        int ranks = Math.Min(Gpus.Require(2), Gpus.IsSoftware ? 4 : 8);
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var result = Ringattn.Mpi(launcher, ranks, ["--backend", "cuda", .. Problem], Limit);
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
    public void Cuda_stores_bfloat16_unless_a_dtype_is_given()
    {
        Gpus.Require(1);
        string[] noDtype = Problem.Where((argument, i) => argument != "--dtype" && (i == 0 || Problem[i - 1] != "--dtype")).ToArray();
        var byDefault = Ringattn.Emulation(2, ["--backend", "cuda", .. noDtype], Limit);
        var bf16 = Ringattn.Emulation(2, ["--backend", "cuda", "--dtype", "BFloat16", .. noDtype], Limit);
        var fp32 = Ringattn.Emulation(2, ["--backend", "cuda", "--dtype", "Float32", .. noDtype], Limit);
        foreach (var run in new[] { byDefault, bf16, fp32 })
        {
            Assert.True(run.ExitCode == 0, run.ToString());
        }
        Assert.Contains("BFloat16 storage", byDefault.StandardError);
        Assert.DoesNotContain("BFloat16 storage", fp32.StandardError);
        Assert.Equal(Ringattn.Digests(Ringattn.Json(bf16)), Ringattn.Digests(Ringattn.Json(byDefault)));
        Assert.NotEqual(Ringattn.Digests(Ringattn.Json(fp32)), Ringattn.Digests(Ringattn.Json(byDefault)));
    }

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void A_hung_rank_ends_the_job_by_the_exchange_timeout_naming_it(string family)
    {
        Gpus.Require(2);
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var result = Ringattn.Mpi(launcher, 2, ["--backend", "cuda", "--exchange-timeout", "5", .. Problem], Limit,
            new Dictionary<string, string> { ["RINGATTN_FAULT"] = "rank=1,step=0,kind=hang" });
        Assert.False(result.TimedOut, result.ToString());
        Assert.NotEqual(0, result.ExitCode);
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(90), result.ToString());
        // Rank 0 waits either in its post (NCCL connects the pair at their first exchange) or for the transfer.
        Assert.Matches("rank 0: ringattn: (\\w+: )?(rank 0, step 0: NCCL did not complete within 5 s: rank 1 did not send or receive|" +
            "rank 0, step 0: posting to NCCL did not return within 5 s: rank 1 did not take part)", result.StandardError);
    }

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void A_killed_rank_ends_the_job_naming_it(string family)
    {
        Gpus.Require(3);
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var result = Ringattn.Mpi(launcher, 3, ["--backend", "cuda", "--exchange-timeout", "5", .. Problem], Limit,
            new Dictionary<string, string> { ["RINGATTN_FAULT"] = "rank=1,step=1,kind=kill" });
        Assert.False(result.TimedOut, result.ToString());
        Assert.NotEqual(0, result.ExitCode);
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(90), result.ToString());
        Assert.Contains("rank 1: ", result.StandardError);
        Assert.Contains("fault injected by RINGATTN_FAULT: rank 1, step 1: kill", result.StandardError);
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
