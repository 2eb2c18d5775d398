using CommandLine;

namespace RingAttention.Cli;

/// <summary>Where the ranks of a run live.</summary>
public enum TransportChoice
{
    /// <summary>MPI when an MPI launcher started the process, emulation otherwise.</summary>
    Auto,

    /// <summary>One rank per process over MPI; fails when MPI cannot be initialised.</summary>
    Mpi,

    /// <summary>All ranks in this process, even under an MPI launcher.</summary>
    Emulation,
}

/// <summary>Options of <c>ringattn run</c> for multi-process runs.</summary>
public sealed partial record RunOptions
{
    /// <summary>Emulation or MPI ranks.</summary>
    [Option("transport", Default = TransportChoice.Auto,
        HelpText = "Where ranks live: auto (MPI when started by mpiexec/srun, else emulation), mpi (one rank per process), emulation (all ranks in this process).")]
    public TransportChoice Transport { get; init; }

    /// <summary>Seconds an exchange or collective may wait for a peer.</summary>
    [Option("exchange-timeout", Default = 300.0,
        HelpText = "Seconds a ring exchange may wait for a peer before the job is aborted with a message naming it (MPI collectives wait twice as long).")]
    public double ExchangeTimeout { get; init; }

    /// <summary>Report a digest of each rank's outputs.</summary>
    [Option("digest", Default = false,
        HelpText = "Report a hash (XxHash3) of each rank's O and LSE bytes, to compare runs bitwise (e.g. MPI against emulation).")]
    public bool Digest { get; init; }
}
