using Spectre.Console;

namespace RingAttention.Cli;

/// <summary>Console settings shared by the commands.</summary>
internal static class ConsoleSetup
{
    /// <summary>Redirected output (logs, CI, mpiexec) gets a wide fixed width so tables do not wrap.</summary>
    public static void Apply()
    {
        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = 200;
        }
    }
}
