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
    private readonly TimeSpan _timeout;
    private readonly RingFault? _fault;
    private int _arrivals;

    private MpiJobHost(MpiEnvironment environment, MpiJobEnd end, IAttentionBackend backend, IRingTransport transport, string ring, long jobToken, TimeSpan timeout)
    {
        (_environment, _end, Backend, _transport, _ring, JobToken, _timeout) = (environment, end, backend, transport, ring, jobToken, timeout);
        _fault = RingFault.FromEnvironment();
        _transports = [_fault?.Inject(_transport) ?? _transport];
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
            return new MpiJobHost(environment, end, backend, transport, ring, jobToken, timeout);
        }
        catch
        {
            end.Dispose();
            throw;
        }
    }

    public void RingFinished() => _fault?.AfterRing(World.Rank, World.Size);

    public RankSummary[] Gather(RankSummary[] hosted)
    {
        Arrive("the report gather");
        byte[] mine = JsonSerializer.SerializeToUtf8Bytes(hosted, SummaryJson);
        var all = World.GatherVariable(mine, root: 0);
        return all is null ? [] : all.SelectMany(bytes => JsonSerializer.Deserialize<RankSummary[]>(bytes, SummaryJson)!).OrderBy(s => s.Rank).ToArray();
    }

    public double MaxOverProcesses(double value)
    {
        Arrive("a maximum over the ranks");
        return World.Allreduce(value, ReductionOperation.Max);
    }

    public bool AllSucceeded(bool localSuccess)
    {
        Arrive("an agreement of all ranks");
        return World.Allreduce(localSuccess ? 1 : 0, ReductionOperation.Min) == 1;
    }

    /// <summary>
    /// Before each collective, every rank tells the next one it arrived and waits for the previous one's word, both
    /// within the exchange timeout: a rank that stalls or dies between collectives (after the last exchange too) is
    /// named by its neighbour, whose failure then ends the job, instead of the collective timing out without a name.
    /// A collective can only say that some rank is missing. Messages on one link are matched in the order they were
    /// sent, so these never take the place of a ring exchange's.
    /// </summary>
    private void Arrive(string what)
    {
        if (World.Size == 1)
        {
            return;
        }
        int sequence = _arrivals++;
        int next = RingNeighbours.Next(World.Rank, World.Size), previous = RingNeighbours.Previous(World.Rank, World.Size);
        int tag = sequence % (Communicator.MaxTag + 1);
        var word = new[] { sequence };
        var heard = new int[1];
        var receive = World.ImmediateReceive(heard, previous, tag);
        var send = World.ImmediateSend(word, next, tag);
        string operation = $"arrival {sequence} (before {what})";
        if (!receive.Wait(_timeout))
        {
            throw TransportTimeouts.PeerDidNotAnswer(World.Rank, operation, previous, "arrive", _timeout);
        }
        if (!send.Wait(_timeout))
        {
            throw TransportTimeouts.PeerDidNotAnswer(World.Rank, operation, next, "take the word that this rank arrived", _timeout);
        }
    }

    public void Dispose()
    {
        _transport.Dispose();
        Backend.Dispose();
        _end.Dispose();
    }
}
