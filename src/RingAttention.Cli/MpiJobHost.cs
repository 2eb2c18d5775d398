using System.Text.Json;
using System.Text.Json.Serialization;
using RingAttention.Kernels;
using RingAttention.Mpi;
using RingAttention.Ring;

namespace RingAttention.Cli;

/// <summary>
/// One rank per process under an MPI launcher: this process hosts the rank <c>MPI_COMM_WORLD</c> gives it and
/// summaries travel to rank 0 by MPI. <see cref="Start"/> composes the named pieces: join the job, set up the rank's
/// console (<see cref="MpiConsole"/>) and its way of ending (<see cref="MpiJobEnd"/>), check that every rank runs the
/// same options (<see cref="SameOptionsCheck"/>), open the backend and ring endpoint (<see cref="MpiRingChoice"/>)
/// and inject a test fault when one is configured (<see cref="RingFault"/>). Failures end the whole job.
/// </summary>
internal sealed class MpiJobHost : IJobHost
{
    private static readonly JsonSerializerOptions SummaryJson = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private readonly MpiEnvironment _environment;
    private readonly MpiJobEnd _end;
    private readonly IRingTransport _transport;
    private readonly IRingTransport[] _transports;
    private readonly string _ring;

    private MpiJobHost(MpiEnvironment environment, MpiJobEnd end, IAttentionBackend backend, IRingTransport transport, string ring, long jobToken)
    {
        (_environment, _end, Backend, _transport, _ring, JobToken) = (environment, end, backend, transport, ring, jobToken);
        var fault = RingFault.FromEnvironment();
        _transports = [fault?.Inject(_transport) ?? _transport];
    }

    private Communicator World => _environment.World;

    public string Description =>
        $"MPI: {World.Size} process(es), one rank each, {_ring} ({_environment.Library.Name}: {_environment.Library.Version}; " +
        $"thread level {_environment.ProvidedThreadLevel})";

    public IAttentionBackend Backend { get; }

    public bool IsRoot => World.Rank == 0;

    public int RingSize => World.Size;

    public long JobToken { get; }

    public IReadOnlyList<IRingTransport> Transports => _transports;

    /// <summary>Joins the MPI job and opens the ring endpoint of this process's rank.</summary>
    public static MpiJobHost Start(RunOptions run)
    {
        var environment = new MpiEnvironment(ThreadLevel.Multiple, ThreadLevel.Serialized);
        var world = environment.World;
        MpiConsole.Apply(world.Rank);
        var end = new MpiJobEnd(environment);
        try
        {
            var timeout = TimeSpan.FromSeconds(run.ExchangeTimeout);
            // Twice as long: when the ring stalls, the exchange that saw it (and can name the silent peer) reports first.
            world.OperationTimeout = 2 * timeout;
            // Under MPI the world size is P; --ranks only has to agree when given.
            OptionCheck.That(!run.WasGiven("ranks") || run.Ranks == world.Size, "--ranks", $"{world.Size} (the MPI world size) or no --ranks", run.Ranks);
            SameOptionsCheck.Check(world, run);
            // One random number all ranks share (the largest drawn): unique names for the job's temporary files.
            long jobToken = world.Allreduce(Random.Shared.NextInt64(), ReductionOperation.Max);
            var (backend, transport, ring) = MpiRingChoice.Open(run, environment, timeout, end.Abort);
            return new MpiJobHost(environment, end, backend, transport, ring, jobToken);
        }
        catch
        {
            end.Dispose();
            throw;
        }
    }

    public RankSummary[] Gather(RankSummary[] hosted)
    {
        byte[] mine = JsonSerializer.SerializeToUtf8Bytes(hosted, SummaryJson);
        var all = World.GatherVariable(mine, root: 0);
        return all is null ? [] : all.SelectMany(bytes => JsonSerializer.Deserialize<RankSummary[]>(bytes, SummaryJson)!).OrderBy(s => s.Rank).ToArray();
    }

    public double MaxOverProcesses(double value) => World.Allreduce(value, ReductionOperation.Max);

    public bool AllSucceeded(bool localSuccess) => World.Allreduce(localSuccess ? 1 : 0, ReductionOperation.Min) == 1;

    public void Dispose()
    {
        _transport.Dispose();
        Backend.Dispose();
        _end.Dispose();
    }
}
