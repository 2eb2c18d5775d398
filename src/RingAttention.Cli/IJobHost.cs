using RingAttention.Ring;

namespace RingAttention.Cli;

/// <summary>
/// Where a job's ranks live: all P in this process (emulation) or one per process (MPI). The run command is the
/// same for both; the host supplies the hosted ranks' transports and brings every rank's summary to the root.
/// </summary>
internal interface IJobHost : IDisposable
{
    /// <summary>One line for the report, e.g. "emulation: 4 virtual ranks in one process".</summary>
    string Description { get; }

    /// <summary>Whether this process prints the job's result.</summary>
    bool IsRoot { get; }

    /// <summary>Endpoints of the ranks this process hosts, in rank order.</summary>
    IReadOnlyList<IRingTransport> Transports { get; }

    /// <summary>Every rank's summary on the root (other processes may get an empty array).</summary>
    RankSummary[] Gather(RankSummary[] hosted);

    /// <summary>The largest of <paramref name="value"/> over all processes (wall time of the slowest rank).</summary>
    double MaxOverProcesses(double value);

    /// <summary>True on every process when <paramref name="localSuccess"/> is true on every process (commit points such as renaming an output file).</summary>
    bool AllSucceeded(bool localSuccess);
}

/// <summary>
/// Emulation: P virtual ranks in this process, connected by the backend's emulation transport
/// (<see cref="InProcessRing"/> for host memory, device-to-device copies for a GPU).
/// </summary>
internal sealed class EmulationHost(int ranks, RingAttention.Kernels.IAttentionBackend backend) : IJobHost
{
    private readonly IRingTransport[] _transports = EmulatedTransports.Create(backend, ranks);

    public string Description => $"emulation: {ranks} virtual rank(s) in one process";

    public bool IsRoot => true;

    public IReadOnlyList<IRingTransport> Transports => _transports;

    public RankSummary[] Gather(RankSummary[] hosted) => hosted;

    public double MaxOverProcesses(double value) => value;

    public bool AllSucceeded(bool localSuccess) => localSuccess;

    public void Dispose()
    {
        foreach (var transport in _transports)
        {
            transport.Dispose();
        }
    }
}
