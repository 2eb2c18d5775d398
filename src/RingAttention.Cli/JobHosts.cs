using RingAttention.Mpi;

namespace RingAttention.Cli;

/// <summary>Chooses where the job's ranks live: emulation in this process, or one rank per process under MPI.</summary>
internal static class JobHosts
{
    public static IJobHost Create(RunOptions run) => run.Transport switch
    {
        TransportChoice.Emulation => new EmulationHost(run),
        TransportChoice.Mpi => MpiJobHost.Start(run),
        _ => MpiLauncher.Detect() is null ? new EmulationHost(run) : MpiJobHost.Start(run),
    };
}
