using System.Runtime.CompilerServices;
using RingAttention.Mpi;

namespace RingAttention.Cli;

/// <summary>
/// Open MPI hands each rank a pseudo-terminal of its own, not the user's: .NET then writes terminal set-up
/// sequences into the job's output as soon as anything (the argument parser measuring the window) touches the
/// console. Declaring a dumb terminal before Main runs keeps a rank's output plain text.
/// </summary>
internal static class LauncherTerminal
{
    [ModuleInitializer]
    internal static void PlainTerminalUnderMpi()
    {
        if (MpiLauncher.Detect() is not null)
        {
            Environment.SetEnvironmentVariable("TERM", "dumb");
        }
    }
}
