using RingAttention.Kernels;
using RingAttention.Ring;

namespace RingAttention.Cli;

/// <summary>
/// Where a job's ranks live: all P in this process (emulation) or one per process (MPI). The run command is the
/// same for both; the host supplies the device backend and the hosted ranks' transports (it owns both), and brings
/// every rank's summary to the root.
/// </summary>
internal interface IJobHost : IDisposable
{
    /// <summary>The device backend the hosted ranks compute on (under MPI with a GPU, the GPU of this rank).</summary>
    IAttentionBackend Backend { get; }

    /// <summary>One line for the report, e.g. "emulation: 4 virtual ranks in one process".</summary>
    string Description { get; }

    /// <summary>Whether this process prints the job's result.</summary>
    bool IsRoot { get; }

    /// <summary>Ranks in the ring: --ranks in emulation, the world size under MPI.</summary>
    int RingSize { get; }

    /// <summary>A random number every process of the job shares, different for every job (unique temporary file names).</summary>
    long JobToken { get; }

    /// <summary>Endpoints of the ranks this process hosts, in rank order.</summary>
    IReadOnlyList<IRingTransport> Transports { get; }

    /// <summary>Called once the hosted ranks finished the ring (an injected fault after the last exchange fires here).</summary>
    void RingFinished();

    /// <summary>Every rank's summary on the root (other processes may get an empty array).</summary>
    RankSummary[] Gather(RankSummary[] hosted);

    /// <summary>The largest of <paramref name="value"/> over all processes (wall time of the slowest rank).</summary>
    double MaxOverProcesses(double value);

    /// <summary>True on every process when <paramref name="localSuccess"/> is true on every process (commit points such as renaming an output file).</summary>
    bool AllSucceeded(bool localSuccess);
}

/// <summary>
/// Emulation: P virtual ranks in this process, connected by the backend's emulation transport
/// (<see cref="InProcessRing"/> for host memory, device-to-device copies for a GPU). The backend comes first, so an
/// unusable device fails before anything is allocated.
/// </summary>
internal sealed class EmulationHost : IJobHost
{
    private readonly int _ranks;
    private readonly IRingTransport[] _transports;

    public EmulationHost(RunOptions run)
    {
        _ranks = run.Ranks;
        Backend = Backends.Create(run);
        try
        {
            _transports = Backend.CreateEmulatedRing(run.Ranks);
        }
        catch
        {
            Backend.Dispose();
            throw;
        }
    }

    public IAttentionBackend Backend { get; }

    public string Description => $"emulation: {_ranks} virtual rank(s) in one process";

    public bool IsRoot => true;

    public int RingSize => _ranks;

    public long JobToken { get; } = Random.Shared.NextInt64();

    public IReadOnlyList<IRingTransport> Transports => _transports;

    public void RingFinished()
    {
    }

    public RankSummary[] Gather(RankSummary[] hosted) => hosted;

    public double MaxOverProcesses(double value) => value;

    public bool AllSucceeded(bool localSuccess) => localSuccess;

    public void Dispose()
    {
        foreach (var transport in _transports)
        {
            transport.Dispose();
        }
        Backend.Dispose();
    }
}
