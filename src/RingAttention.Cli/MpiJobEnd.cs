using System.Runtime.InteropServices;
using RingAttention.Mpi;

namespace RingAttention.Cli;

/// <summary>
/// How an MPI rank's process ends. A process that ends with a failure status (an exception reached the command
/// runner) aborts the whole job with <c>MPI_Abort</c> instead of finalising; that decision is taken at process exit
/// because only then is the failure message printed and the status known. A rank told to terminate by the launcher
/// (SIGTERM) ends at once rather than finalising while its peers are gone.
/// </summary>
internal sealed class MpiJobEnd : IDisposable
{
    private readonly MpiEnvironment _environment;
    private readonly PosixSignalRegistration _terminate;

    /// <summary>Installs the exit and SIGTERM handlers for <paramref name="environment"/>.</summary>
    public MpiJobEnd(MpiEnvironment environment)
    {
        _environment = environment;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => End(Environment.ExitCode);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => NativeLibc.ExitImmediately(128 + 15));
    }

    /// <summary>Ends the job from any thread (a watchdog's): prints the cause and calls MPI_Abort.</summary>
    public void Abort(string message)
    {
        Console.Error.WriteLine($"ringattn: {message}");
        Console.Error.Flush();
        _environment.World.Abort(ExitCodes.Failed);
    }

    public void Dispose() => _terminate.Dispose();

    /// <summary>Finalises after a successful run (status 0, or 1: verification failed but every rank finished); aborts otherwise.</summary>
    private void End(int exitCode)
    {
        if (exitCode is ExitCodes.Ok or ExitCodes.VerificationFailed)
        {
            _environment.Dispose();
            return;
        }
        Console.Error.Flush();
        _environment.World.Abort(exitCode);
    }
}
