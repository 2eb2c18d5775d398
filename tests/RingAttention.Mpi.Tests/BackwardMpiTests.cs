namespace RingAttention.Mpi.Tests;

/// <summary>
/// The backward under mpiexec: every process runs its rank's forward and backward, the fp32 dK/dV accumulators travel
/// between processes with the K/V blocks, and dQ, dK, dV (written by every process into the shared files) must be byte
/// for byte what the emulation writes for the same job; the gradients verify on both.
/// </summary>
public sealed class BackwardMpiTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(180);
    private readonly string _folder = Directory.CreateTempSubdirectory("ringattn-mpi-backward-").FullName;

    [SkippableTheory]
    [InlineData("openmpi", "Float32", "zigzag")]
    [InlineData("openmpi", "BFloat16", "striped")]
    [InlineData("mpich", "Float32", "contiguous")]
    [InlineData("mpich", "BFloat16", "zigzag")]
    public void Mpi_backward_writes_the_same_gradients_as_emulation(string family, string dtype, string layout)
    {
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        string[] Arguments(string tag) =>
        [
            "--seq", "301", "--batch", "2", "--heads", "4", "--kv-heads", "2", "--head-dim", "32", "--dtype", dtype, "--causal",
            "--layout", layout, "--backward", "--verify-rows", "6", "--threads", "1", "--json",
            "--dq-out", Path.Combine(_folder, $"dq-{tag}.npy"), "--dk-out", Path.Combine(_folder, $"dk-{tag}.npy"),
            "--dv-out", Path.Combine(_folder, $"dv-{tag}.safetensors"),
        ];
        var emulation = Ringattn.Emulation(4, Arguments("emulation"), Limit);
        Assert.True(emulation.ExitCode == 0, emulation.ToString());
        var mpi = Ringattn.Mpi(launcher, 4, Arguments("mpi"), Limit);
        Assert.True(mpi.ExitCode == 0, mpi.ToString());
        foreach (var run in new[] { emulation, mpi })
        {
            var backward = Ringattn.Json(run).GetProperty("Backward");
            Assert.True(backward.GetProperty("Verified").GetBoolean(), run.ToString());
            Assert.Equal(6, backward.GetProperty("QueryGrad").GetProperty("Rows").GetInt32());
            Assert.Equal(6, backward.GetProperty("KeyGrad").GetProperty("Rows").GetInt32());
        }
        foreach (var name in new[] { "dq-{0}.npy", "dk-{0}.npy", "dv-{0}.safetensors" })
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(_folder, string.Format(name, "emulation"))),
                File.ReadAllBytes(Path.Combine(_folder, string.Format(name, "mpi"))));
        }
        Assert.Empty(Directory.GetFiles(_folder, "*partial*"));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
