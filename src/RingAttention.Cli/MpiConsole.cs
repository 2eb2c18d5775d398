using Spectre.Console;

namespace RingAttention.Cli;

/// <summary>The console of one MPI rank: stderr lines say which rank wrote them, and output is plain, wide text.</summary>
internal static class MpiConsole
{
    /// <summary>Prefixes every stderr line with "rank R: " and turns off terminal features launchers do not pass on.</summary>
    public static void Apply(int rank)
    {
        Console.SetError(new RankPrefixedWriter(Console.OpenStandardError(), rank));
        // Launchers (Open MPI) may hand ranks a pseudo-terminal that is not the user's: write plain, wide text.
        AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 200);
        AnsiConsole.Profile.Capabilities.Ansi = false;
        AnsiConsole.Profile.Capabilities.ColorSystem = ColorSystem.NoColors;
        AnsiConsole.Profile.Capabilities.Interactive = false;
    }
}
