namespace RingAttention.Mpi.Tests;

/// <summary>
/// The bindings against both real libraries: the probe (this assembly run as a program) alone, as an MPI
/// singleton with the library chosen by RINGATTN_MPI_LIBRARY, and as a 3-rank job under each family's mpiexec.
/// </summary>
public sealed class BindingTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    public static TheoryData<string> Families => new() { Launchers.OpenMpi.Name, Launchers.Mpich.Name };

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void Singleton_exercises_the_api_with_the_chosen_library(string family)
    {
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var result = ChildProcess.Run("dotnet", [Launchers.ProbeAssembly, "api"], Limit,
            new Dictionary<string, string> { [MpiLibrary.OverrideVariable] = launcher.Library });
        Assert.True(result.ExitCode == 0, result.ToString());
        string expectedFamily = launcher == Launchers.OpenMpi ? "OpenMpi" : "Mpich";
        Assert.Contains($"probe rank 0 size 1 local 0/1 family {expectedFamily} threads Multiple library {launcher.Library}", result.StandardOutput);
        Assert.Contains("probe ok rank 0", result.StandardOutput);
        Assert.Contains("probe finalised rank 0", result.StandardOutput);
    }

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void Three_ranks_exercise_the_api_under_mpiexec(string family)
    {
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var (file, arguments) = Launchers.Command(launcher, 3, "dotnet", [Launchers.ProbeAssembly, "api"]);
        var result = ChildProcess.Run(file, arguments, Limit);
        Assert.True(result.ExitCode == 0, result.ToString());
        for (int rank = 0; rank < 3; rank++)
        {
            Assert.Contains($"probe rank {rank} size 3 local {rank}/3 family", result.StandardOutput);
            Assert.Contains($"probe ok rank {rank}", result.StandardOutput);
            Assert.Contains($"probe finalised rank {rank}", result.StandardOutput);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void Four_ranks_move_mixed_region_messages_and_all_reduce_through_the_ring_transport(string family)
    {
        // The transport contract of tests/Shared/Transports (also run on the in-process ring): three regions of
        // mixed sizes per message, two exchanges in flight, all-reduce sum and max, gather and barrier.
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var (file, arguments) = Launchers.Command(launcher, 4, "dotnet", [Launchers.ProbeAssembly, "transport"]);
        var result = ChildProcess.Run(file, arguments, Limit);
        Assert.True(result.ExitCode == 0, result.ToString());
        for (int rank = 0; rank < 4; rank++)
        {
            Assert.Contains($"probe exchanges ok rank {rank} of 4", result.StandardOutput);
            Assert.Contains($"probe collectives ok rank {rank} of 4", result.StandardOutput);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void A_message_larger_than_int_max_bytes_arrives_whole(string family)
    {
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var result = ChildProcess.Run("dotnet", [Launchers.ProbeAssembly, "large"], Limit,
            new Dictionary<string, string> { [MpiLibrary.OverrideVariable] = launcher.Library });
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"probe ok rank 0: {(long)int.MaxValue + 4097} bytes", result.StandardOutput);
    }

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void A_library_that_does_not_match_the_launcher_is_refused(string family)
    {
        var launcher = Launchers.ByName(family);
        var other = launcher == Launchers.OpenMpi ? Launchers.Mpich : Launchers.OpenMpi;
        Launchers.Require(launcher);
        Launchers.Require(other);
        var (file, arguments) = Launchers.Command(launcher, 2, "dotnet", [Launchers.ProbeAssembly, "api"]);
        var result = ChildProcess.Run(file, arguments, Limit,
            new Dictionary<string, string> { [MpiLibrary.OverrideVariable] = other.Library });
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains($"{other.Library} is {(other == Launchers.OpenMpi ? "OpenMpi" : "Mpich")}, but this process was started by the", result.Output);
    }
}
