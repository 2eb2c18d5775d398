namespace RingAttention.Mpi.Tests;

/// <summary>
/// <c>ringattn decode</c> under each MPI family's mpiexec, one rank per process: every step verifies against the
/// float64 reference, every rank gets the same merged bytes, and they equal the emulation's bit for bit (the merge
/// gathers the partials by an exact all-reduce and combines them in rank order, and the kernel's chunking does not
/// depend on threads).
/// </summary>
public sealed class DecodeMpiTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);

    public static TheoryData<string, int, string> Jobs()
    {
        var data = new TheoryData<string, int, string>();
        foreach (string family in new[] { Launchers.OpenMpi.Name, Launchers.Mpich.Name })
        {
            data.Add(family, 1, "1");
            data.Add(family, 3, "4");
            data.Add(family, 4, "1");
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Jobs))]
    public void Mpi_decode_verifies_and_equals_emulation_bitwise(string family, int ranks, string tokensPerStep)
    {
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        string[] problem =
        [
            "decode", "--context", "157", "--steps", "5", "--tokens-per-step", tokensPerStep, "--batch", "2", "--heads", "4", "--kv-heads", "2",
            "--head-dim", "24", "--block-size", "3", "--seed", "5", "--threads", "1", "--json", "--digest",
        ];
        var (file, command) = Launchers.Command(launcher, ranks, Launchers.Ringattn, problem);
        var result = ChildProcess.Run(file, command, Limit);
        Assert.True(result.ExitCode == 0, result.ToString());
        var job = Ringattn.Json(result);
        Assert.StartsWith($"MPI: {ranks} process(es)", job.GetProperty("Host").GetString());
        Assert.True(job.GetProperty("Verified").GetBoolean(), result.ToString());
        Assert.Equal(5, job.GetProperty("VerifiedSteps").GetInt32());
        Assert.True(job.GetProperty("RanksAgree").GetBoolean(), result.ToString());

        var emulation = ChildProcess.Run(Launchers.Ringattn, [.. problem, "--transport", "emulation", "--ranks", ranks.ToString()], Limit);
        Assert.True(emulation.ExitCode == 0, emulation.ToString());
        Assert.Equal(Ringattn.Json(emulation).GetProperty("OutputDigest").GetString(), job.GetProperty("OutputDigest").GetString());
    }
}
