using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using RingAttention.Cpu;
using RingAttention.Cuda;
using RingAttention.Kernels;
using RingAttention.Mpi;
using RingAttention.Nccl;
using RingAttention.Ring;
using Spectre.Console;

namespace RingAttention.Cli;

/// <summary>
/// One rank per process under an MPI launcher: this process hosts the rank <c>MPI_COMM_WORLD</c> gives it and
/// summaries travel to rank 0 by MPI. With the CPU backend the ring endpoint is <see cref="MpiRingTransport"/>; with
/// the CUDA backend each rank takes the GPU of its local rank on its node (the ranks agree on the placement first,
/// <see cref="NcclBootstrap"/>) and the ring runs over NCCL (<see cref="NcclRingTransport"/>). Failures end the whole job:
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
    private readonly IRingTransport _transport;
    private readonly IRingTransport[] _transports;
    private readonly string _ring;
    private readonly PosixSignalRegistration _terminate;

    private MpiJobHost(RunOptions run)
    {
        _environment = new MpiEnvironment(ThreadLevel.Multiple, ThreadLevel.Serialized);
        _world = _environment.World;
        Console.SetError(new RankPrefixedWriter(Console.OpenStandardError(), _world.Rank));
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

        (Backend, _transport, _ring) = OpenBackend(run, timeout);
        var fault = RingFault.FromEnvironment();
        _transports = [fault?.Inject(_transport) ?? _transport];
    }

    public string Description =>
        $"MPI: {_world.Size} process(es), one rank each, {_ring} ({_environment.Library.Name}: {_environment.Library.Version}; " +
        $"thread level {_environment.ProvidedThreadLevel})";

    public IAttentionBackend Backend { get; }

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
        Backend.Dispose();
        _terminate.Dispose();
    }

    /// <summary>
    /// The backend and the ring endpoint --backend asks for. CPU: the ring over MPI. CUDA or auto: every rank opens
    /// the GPU of its local rank and the ranks agree on the placement; then the ring runs over NCCL, or, when CUDA
    /// or NCCL is unavailable on some rank, auto runs every rank on the CPU over MPI (and says so) while cuda fails
    /// on every rank with the reason. A placement that does not give each rank its own GPU fails in both cases.
    /// </summary>
    private (IAttentionBackend Backend, IRingTransport Transport, string Ring) OpenBackend(RunOptions run, TimeSpan timeout)
    {
        const string overMpi = "ring over MPI";
        if (run.Backend == BackendKind.Cpu)
        {
            return (new CpuBackend(run.Threads), new MpiRingTransport(_world, timeout), overMpi);
        }
        bool deviceGiven = Environment.GetCommandLineArgs().Any(a => a == "--device" || a.StartsWith("--device=", StringComparison.Ordinal));
        Guard(!deviceGiven, "--device", "no --device under MPI (each rank uses the GPU of its local rank on its node)", run.Device);
        var claim = LocalGpu.Open(_world.Rank, Environment.MachineName, _environment.LocalRank, out var gpu);
        try
        {
            var verdict = NcclBootstrap.Agree(_world, claim);
            switch (verdict.Kind)
            {
                case GpuVerdictKind.Usable:
                    var transport = NcclBootstrap.Connect(_world, gpu!, timeout, AbortJob);
                    NcclLibrary.TryGetVersion(out string version, out _);
                    return (gpu!, transport, $"ring over NCCL {version}, one GPU per rank");
                case GpuVerdictKind.Unavailable when run.Backend == BackendKind.Auto:
                    gpu?.Dispose();
                    if (IsRoot)
                    {
                        Console.Error.WriteLine($"ringattn: --backend auto: CUDA unavailable: {verdict.Message}; every rank uses the CPU backend, {overMpi}");
                    }
                    return (new CpuBackend(run.Threads), new MpiRingTransport(_world, timeout), overMpi);
                case GpuVerdictKind.Unavailable:
                    throw new CudaUnavailableException($"{verdict.Message}; --backend cpu (or auto) runs every rank on the CPU, {overMpi}");
                default:
                    throw new ArgumentException($"--backend {run.Backend.ToString().ToLowerInvariant()}: {verdict.Message}");
            }
        }
        catch
        {
            gpu?.Dispose();
            throw;
        }
    }

    /// <summary>Ends the job from any thread (a watchdog's): prints the cause and calls MPI_Abort.</summary>
    private void AbortJob(string message)
    {
        Console.Error.WriteLine($"ringattn: {message}");
        Console.Error.Flush();
        _world.Abort(ExitCodes.Failed);
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
