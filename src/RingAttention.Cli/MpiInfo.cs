using RingAttention.Mpi;

namespace RingAttention.Cli;

/// <summary>The MPI facts <c>ringattn info</c> prints: the library this process would use and its version, or why there is none.</summary>
internal static class MpiInfo
{
    public static IEnumerable<(string Name, string Value)> Facts()
    {
        var launcher = MpiLauncher.Detect();
        yield return ("mpi launcher", launcher is null ? "none (not started by mpiexec or srun)" : $"{launcher.Family} ({launcher.Evidence}): rank {launcher.Rank} of {launcher.Size}");
        var library = MpiLibrary.TryLoad(out string reason);
        yield return ("transport mpi", library is null
            ? $"unavailable: {reason}"
            : $"available: {library.Name}, {library.Family} ({library.Version}); chosen as {reason}");
    }
}
