using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using RingAttention.Mpi;
using RingAttention.Ring;
using Spectre.Console;

namespace RingAttention.Cli;

/// <summary>
/// One rank per process under an MPI launcher: this process hosts the rank <c>MPI_COMM_WORLD</c> gives it, its ring
/// endpoint is <see cref="MpiRingTransport"/>, and summaries travel to rank 0 by MPI. Failures end the whole job:
/// standard error lines carry "rank R: ", and when the process ends with a failure status (an exception reached the
/// command runner) the job is aborted with <c>MPI_Abort</c> instead of finalised. That decision is taken at process
/// exit because only then is the failure message printed and the status known; a rank told to terminate by the
/// launcher (SIGTERM) ends at once rather than finalising while its peers are gone.
/// </summary>
internal sealed class MpiJobHost : IJobHost
{
    private static readonly JsonSerializerOptions SummaryJson = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private readonly MpiEnvironment _environment;
    private readonly Communicator _world;
    private readonly MpiRingTransport _transport;
    private readonly IRingTransport[] _transports;
    private readonly PosixSignalRegistration _terminate;

    private MpiJobHost(RunOptions run)
    {
        _environment = new MpiEnvironment(ThreadLevel.Multiple, ThreadLevel.Serialized);
        _world = _environment.World;
        Console.SetError(new RankPrefixedWriter(Console.Error, _world.Rank));
        // Launchers (Open MPI) may hand ranks a pseudo-terminal that is not the user's: write plain, wide text.
        AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 200);
        AnsiConsole.Profile.Capabilities.Ansi = false;
        AnsiConsole.Profile.Capabilities.ColorSystem = ColorSystem.NoColors;
        AnsiConsole.Profile.Capabilities.Interactive = false;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => EndJob(Environment.ExitCode);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => NativeLibc.ExitImmediately(128 + 15));

        Guard(run.ExchangeTimeout > 0, "--exchange-timeout", "a positive number of seconds", run.ExchangeTimeout);
        var timeout = TimeSpan.FromSeconds(run.ExchangeTimeout);
        // Twice as long: when the ring stalls, the exchange that saw it (and can name the silent peer) reports first.
        _world.OperationTimeout = 2 * timeout;
        bool ranksGiven = Environment.GetCommandLineArgs().Any(a => a == "--ranks" || a.StartsWith("--ranks=", StringComparison.Ordinal));
        Guard(!ranksGiven || run.Ranks == _world.Size, "--ranks", $"{_world.Size} (the MPI world size) or no --ranks", run.Ranks);
        // Under MPI the world size is P; --ranks (default 4) only has to agree when given.
        run.Ranks = _world.Size;
        CheckSameOptions(run);

        _transport = new MpiRingTransport(_world, timeout);
        var fault = RingFault.FromEnvironment();
        _transports = [fault?.Inject(_transport) ?? _transport];
    }

    public string Description =>
        $"MPI: {_world.Size} process(es), one rank each ({_environment.Library.Name}: {_environment.Library.Version}; " +
        $"thread level {_environment.ProvidedThreadLevel})";

    public bool IsRoot => _world.Rank == 0;

    public IReadOnlyList<IRingTransport> Transports => _transports;

    /// <summary>Initialises MPI and the ring endpoint of this process's rank.</summary>
    public static MpiJobHost Start(RunOptions run) => new(run);

    public RankSummary[] Gather(RankSummary[] hosted)
    {
        byte[] mine = JsonSerializer.SerializeToUtf8Bytes(hosted, SummaryJson);
        var all = _world.GatherVariable(mine, root: 0);
        return all is null ? [] : all.SelectMany(bytes => JsonSerializer.Deserialize<RankSummary[]>(bytes, SummaryJson)!).OrderBy(s => s.Rank).ToArray();
    }

    public double MaxOverProcesses(double value) => _world.Allreduce(value, ReductionOperation.Max);

    public bool AllSucceeded(bool localSuccess) => _world.Allreduce(localSuccess ? 1 : 0, ReductionOperation.Min) == 1;

    public void Dispose()
    {
        _transport.Dispose();
        _terminate.Dispose();
    }

    /// <summary>Finalises after a successful run (status 0, or 1: verification failed but every rank finished); aborts otherwise.</summary>
    private void EndJob(int exitCode)
    {
        if (exitCode is ExitCodes.Ok or ExitCodes.VerificationFailed)
        {
            _environment.Dispose();
            return;
        }
        Console.Error.Flush();
        _world.Abort(exitCode);
    }

    /// <summary>Every rank must run the same problem: a rank started with other options would exchange blocks of other sizes.</summary>
    private void CheckSameOptions(RunOptions run)
    {
        long hash = (long)XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(run)));
        long low = _world.Allreduce(hash, ReductionOperation.Min), high = _world.Allreduce(hash, ReductionOperation.Max);
        if (low != high)
        {
            throw new ArgumentException("the ranks were started with different ringattn options; every rank must run the same problem");
        }
    }

    private static void Guard(bool condition, string option, string expected, object actual)
    {
        if (!condition)
        {
            throw new ArgumentException($"{option}: expected {expected}, actual {actual}.");
        }
    }
}
