namespace RingAttention.Mpi.Tests;

/// <summary>Parts that need no MPI library: fault specifications, launcher detection and library candidates.</summary>
public sealed class UnitTests
{
    [Theory]
    [InlineData("rank=1,step=2,kind=throw", 1, 2, RingFaultKind.Throw)]
    [InlineData(" kind=HANG , rank=0, step=0 ", 0, 0, RingFaultKind.Hang)]
    [InlineData("rank=3,step=1,kind=exit", 3, 1, RingFaultKind.Exit)]
    [InlineData("rank=2,step=0,kind=kill", 2, 0, RingFaultKind.Kill)]
    public void Fault_specifications_parse(string text, int rank, int step, RingFaultKind kind) =>
        Assert.Equal(new RingFault(rank, step, kind), RingFault.Parse(text));

    [Theory]
    [InlineData("rank=1,step=2")]
    [InlineData("rank=1,step=2,kind=explode")]
    [InlineData("rank=-1,step=2,kind=throw")]
    [InlineData("rank=1,step=2,kind=throw,extra=1")]
    [InlineData("rank 1")]
    [InlineData("rank=1,step=x,kind=throw")]
    public void Malformed_fault_specifications_are_refused_with_the_expected_form(string text)
    {
        var error = Assert.Throws<ArgumentException>(() => RingFault.Parse(text));
        Assert.Contains("RINGATTN_FAULT: expected rank=R,step=S,kind=throw|exit|hang|kill", error.Message);
        Assert.Contains(text, error.Message);
    }

    [Fact]
    public void A_fault_that_could_never_fire_is_refused()
    {
        using var transport = RingAttention.Ring.InProcessRing.Create(3)[0];
        var error = Assert.Throws<ArgumentException>(() => new RingFault(1, 3, RingFaultKind.Throw).Inject(transport));
        Assert.Contains("a step from 0 to 1 (the steps that exchange) or 2 (after the last exchange), actual rank 1, step 3", error.Message);
        Assert.Throws<ArgumentException>(() => new RingFault(3, 0, RingFaultKind.Throw).Inject(transport));
        Assert.Same(transport, new RingFault(1, 1, RingFaultKind.Throw).Inject(transport));
        // Step P − 1 fires after the ring (RingFault.AfterRing), on a rank other than 0 here.
        Assert.Same(transport, new RingFault(1, 2, RingFaultKind.Throw).Inject(transport));
    }

    [Fact]
    public void Library_candidates_follow_the_launcher_and_the_override()
    {
        string? saved = Environment.GetEnvironmentVariable(MpiLibrary.OverrideVariable);
        try
        {
            Environment.SetEnvironmentVariable(MpiLibrary.OverrideVariable, null);
            Assert.Equal(["libmpi.so.40"], MpiLibrary.Candidates(new MpiLauncher(MpiFamily.OpenMpi, 0, 2, "OMPI_COMM_WORLD_SIZE")));
            Assert.Equal(["libmpich.so.12", "libmpi.so.12"], MpiLibrary.Candidates(new MpiLauncher(MpiFamily.Mpich, 0, 2, "PMI_SIZE")));
            Assert.Equal(["libmpi.so.40", "libmpich.so.12", "libmpi.so.12"], MpiLibrary.Candidates(null));
            Environment.SetEnvironmentVariable(MpiLibrary.OverrideVariable, "/opt/mpi/lib/libmpi.so");
            Assert.Equal(["/opt/mpi/lib/libmpi.so"], MpiLibrary.Candidates(null));
        }
        finally
        {
            Environment.SetEnvironmentVariable(MpiLibrary.OverrideVariable, saved);
        }
    }

    [Fact]
    public void Launchers_are_recognised_by_their_environment()
    {
        string[] variables = ["OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMI_SIZE", "PMI_RANK", "PMIX_RANK", "SLURM_NTASKS"];
        var saved = variables.ToDictionary(v => v, Environment.GetEnvironmentVariable);
        void Set(params (string Name, string? Value)[] values)
        {
            foreach (string v in variables)
            {
                Environment.SetEnvironmentVariable(v, null);
            }
            foreach (var (name, value) in values)
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }
        try
        {
            Set();
            Assert.Null(MpiLauncher.Detect());
            Set(("OMPI_COMM_WORLD_SIZE", "4"), ("OMPI_COMM_WORLD_RANK", "2"));
            Assert.Equal(new MpiLauncher(MpiFamily.OpenMpi, 2, 4, "OMPI_COMM_WORLD_SIZE"), MpiLauncher.Detect());
            Set(("PMI_SIZE", "3"), ("PMI_RANK", "1"));
            Assert.Equal(new MpiLauncher(MpiFamily.Mpich, 1, 3, "PMI_SIZE"), MpiLauncher.Detect());
            Set(("PMIX_RANK", "5"), ("SLURM_NTASKS", "8"));
            Assert.Equal(new MpiLauncher(MpiFamily.OpenMpi, 5, 8, "PMIX_RANK"), MpiLauncher.Detect());
        }
        finally
        {
            foreach (var (name, value) in saved)
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }
    }
}
