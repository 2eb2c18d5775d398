namespace RingAttention.Cli;

/// <summary>The one argument-check style of the command line: a failed check names the option, what was expected and what was given.</summary>
internal static class OptionCheck
{
    /// <summary>Throws <see cref="InvalidInputException"/> "<paramref name="option"/>: expected …, actual …" unless <paramref name="condition"/>.</summary>
    public static void That(bool condition, string option, string expected, object? actual)
    {
        if (!condition)
        {
            throw new InvalidInputException(option, $"{option}: expected {expected}, actual {TerminalText.Escape(Show(actual))}.");
        }
    }

    private static string Show(object? actual) => actual switch
    {
        null => "none",
        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        float f => f.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        _ => actual.ToString() ?? "none",
    };
}
