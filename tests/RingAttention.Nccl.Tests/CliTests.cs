using RingAttention.Mpi.Tests;

namespace RingAttention.Nccl.Tests;

/// <summary>
/// ringattn under each family's mpiexec on a machine without a usable GPU (CI): --backend cuda ends every rank at
/// once with the reason and a non-zero status, --backend auto runs on the CPU over MPI and says so; and
/// <c>ringattn info</c> reports NCCL. Where GPUs and NCCL are usable these skip: the multi-GPU tests run instead.
/// </summary>
public sealed class CliTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly string[] Problem = ["--seq", "512", "--heads", "2", "--head-dim", "32", "--threads", "1", "--verify-rows", "2"];

    [SkippableTheory]
    [MemberData(nameof(BootstrapTests.Families), MemberType = typeof(BootstrapTests))]
    public void Backend_cuda_without_a_gpu_ends_every_rank_at_once_with_the_reason(string family)
    {
        Skip.If(Gpus.Usable, "CUDA and NCCL are usable here: the multi-GPU tests cover --backend cuda");
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var result = Ringattn.Mpi(launcher, 2, ["--backend", "cuda", .. Problem], Limit);
        Assert.False(result.TimedOut, result.ToString());
        Assert.Equal(3, result.ExitCode);
        Assert.True(result.Elapsed < Bound, $"the job took {result.Elapsed.TotalSeconds:F1} s to end\n{result}");
        Assert.Matches(
            $@"rank [01]: ringattn: CUDA backend unavailable: rank 0 on host {Environment.MachineName}: .+; 1 other rank\(s\) cannot use CUDA or NCCL either; " +
            "--backend cpu \\(or auto\\) runs every rank on the CPU, ring over MPI", result.StandardError);
        Assert.DoesNotContain("ring over NCCL", result.Output);
    }

    [SkippableTheory]
    [MemberData(nameof(BootstrapTests.Families), MemberType = typeof(BootstrapTests))]
    public void Backend_auto_without_a_gpu_runs_on_the_cpu_over_mpi_and_says_so(string family)
    {
        Skip.If(Gpus.Usable, "CUDA and NCCL are usable here: auto would choose them");
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var result = Ringattn.Mpi(launcher, 2, ["--backend", "auto", "--json", .. Problem], Limit);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches($"rank 0: ringattn: --backend auto: CUDA unavailable: rank 0 on host {Environment.MachineName}: .+; every rank uses the CPU backend, ring over MPI",
            result.StandardError);
        Assert.DoesNotContain("rank 1: ringattn: --backend auto", result.StandardError);
        var job = Ringattn.Json(result);
        Assert.StartsWith("MPI: 2 process(es), one rank each, ring over MPI (", job.GetProperty("Host").GetString());
        Assert.StartsWith("CPU", job.GetProperty("Backend").GetString());
        Assert.True(job.GetProperty("Verified").GetBoolean(), result.ToString());
    }

    [SkippableFact]
    public void A_device_ordinal_under_mpi_is_refused_since_the_local_rank_chooses_it()
    {
        Launchers.Require(Launchers.OpenMpi);
        var result = Ringattn.Mpi(Launchers.OpenMpi, 2, ["--backend", "cuda", "--device", "1", .. Problem], Limit);
        Assert.False(result.TimedOut, result.ToString());
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("ringattn: --device: expected no --device under MPI (each rank uses the GPU of its local rank on its node), actual 1.", result.StandardError);
    }

    [Fact]
    public void Info_reports_the_nccl_version_or_why_it_is_unavailable()
    {
        var result = ChildProcess.Run(Launchers.Ringattn, ["info"], Limit);
        Assert.True(result.ExitCode == 0, result.ToString());
        string line = Assert.Single(result.StandardOutput.Split('\n'), l => l.StartsWith("transport nccl ", StringComparison.Ordinal));
        if (NcclLibrary.TryGetVersion(out string version, out string reason))
        {
            Assert.Contains($"NCCL {version}", line);
        }
        else
        {
            Assert.EndsWith("unavailable: " + reason, line);
        }
    }
}
