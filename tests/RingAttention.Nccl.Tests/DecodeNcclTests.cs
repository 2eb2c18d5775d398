using RingAttention.Mpi.Tests;

namespace RingAttention.Nccl.Tests;

/// <summary>
/// <c>ringattn decode --backend cuda</c> under each MPI family's mpiexec, one rank per GPU: the split-KV kernel on
/// each rank's GPU, the merge an NCCL all-reduce over device memory. Runs where GPUs and NCCL are usable, real ones or
/// the software GPU (CI, a problem small enough for it), and skips, with the reason, elsewhere. Every step must verify
/// against the float64 reference, every rank must hold the same merged bytes, and they must equal the emulated CUDA
/// decode's on one GPU bit for bit (the same kernel calls; the merge's all-reduce adds each value to zeros only).
/// </summary>
public sealed class DecodeNcclTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(300);

    public static TheoryData<string> Families => BootstrapTests.Families;

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void Nccl_decode_verifies_and_equals_the_emulated_cuda_decode_bitwise(string family)
    {
        int ranks = Math.Min(Gpus.Require(2), Gpus.IsSoftware ? 3 : 8);
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        string[] problem = Gpus.IsSoftware
            ? ["decode", "--backend", "cuda", "--context", "150", "--steps", "3", "--tokens-per-step", "2", "--batch", "2", "--heads", "4", "--kv-heads", "2",
               "--head-dim", "64", "--dtype", "BFloat16", "--block-size", "3", "--seed", "5", "--json", "--digest"]
            : ["decode", "--backend", "cuda", "--context", "65536", "--steps", "8", "--tokens-per-step", "4", "--batch", "2", "--heads", "8", "--kv-heads", "1",
               "--head-dim", "128", "--dtype", "BFloat16", "--block-size", "64", "--seed", "5", "--json", "--digest"];
        var (file, command) = Launchers.Command(launcher, ranks, Launchers.Ringattn, problem);
        var result = ChildProcess.Run(file, command, Limit);
        Assert.True(result.ExitCode == 0, result.ToString());
        var job = Ringattn.Json(result);
        Assert.Contains("ring over NCCL", job.GetProperty("Host").GetString());
        Assert.StartsWith("CUDA device", job.GetProperty("Backend").GetString());
        Assert.True(job.GetProperty("Verified").GetBoolean(), result.ToString());
        Assert.Equal(Gpus.IsSoftware ? 3 : 8, job.GetProperty("VerifiedSteps").GetInt32());
        Assert.True(job.GetProperty("RanksAgree").GetBoolean(), result.ToString());

        var emulation = ChildProcess.Run(Launchers.Ringattn, [.. problem, "--transport", "emulation", "--ranks", ranks.ToString()], Limit);
        Assert.True(emulation.ExitCode == 0, emulation.ToString());
        Assert.Equal(Ringattn.Json(emulation).GetProperty("OutputDigest").GetString(), job.GetProperty("OutputDigest").GetString());
    }
}
