using System.Reflection;
using CommandLine;

namespace RingAttention.Cli;

/// <summary>
/// What CommandLineParser lets through and ringattn must not: an option that takes a value given none (a trailing
/// <c>--out</c>), a value after a switch (<c>--causal false</c>), and stray words (<c>run foo bar</c>). It also
/// records which options were given, so that "the user said --seq" is known from the parsed arguments rather than
/// guessed from defaults or from re-reading the process's command line.
/// </summary>
internal static class CommandLineCheck
{
    /// <summary>
    /// Checks the arguments after the verb against the options of <paramref name="verbType"/> and returns the long
    /// names (without dashes) of those given. Throws <see cref="InvalidInputException"/> naming the argument.
    /// </summary>
    public static IReadOnlySet<string> GivenOptions(Type verbType, IReadOnlyList<string> arguments)
    {
        var options = verbType.GetProperties()
            .Select(p => (Property: p, Attribute: p.GetCustomAttribute<OptionAttribute>()))
            .Where(o => o.Attribute is not null)
            .ToArray();
        var given = new HashSet<string>(StringComparer.Ordinal);
        string? previousSwitch = null;
        for (int i = 0; i < arguments.Count; i++)
        {
            string argument = arguments[i];
            if ((!argument.StartsWith('-') || argument == "-") && previousSwitch is not null)
            {
                throw new InvalidInputException("--" + previousSwitch,
                    $"--{previousSwitch}: is a switch and takes no value, actual '{TerminalText.Escape(argument)}' (leave it out for false).");
            }
            previousSwitch = null;
            if (!argument.StartsWith('-') || argument == "-")
            {
                throw new InvalidInputException(argument,
                    $"unexpected argument '{TerminalText.Escape(argument)}': expected an option (--name value); see 'ringattn {VerbName(verbType)} --help'.");
            }
            string name = argument.TrimStart('-');
            int equals = name.IndexOf('=');
            bool inlineValue = equals >= 0;
            if (inlineValue)
            {
                name = name[..equals];
            }
            var match = options.FirstOrDefault(o => o.Attribute!.LongName == name || (name.Length == 1 && o.Attribute!.ShortName == name));
            if (match.Attribute is null)
            {
                // Left to the parser, which reports unknown options (and --help, --version) itself.
                continue;
            }
            string longName = match.Attribute.LongName.Length > 0 ? match.Attribute.LongName : match.Attribute.ShortName;
            given.Add(longName);
            bool isSwitch = match.Property.PropertyType == typeof(bool);
            if (isSwitch)
            {
                if (inlineValue)
                {
                    throw new InvalidInputException("--" + longName, $"--{longName}: is a switch and takes no value, actual '{TerminalText.Escape(argument)}' (leave it out for false).");
                }
                previousSwitch = longName;
                continue;
            }
            if (inlineValue)
            {
                continue;
            }
            if (i + 1 >= arguments.Count || IsOptionName(arguments[i + 1]))
            {
                throw new InvalidInputException("--" + longName, $"--{longName}: expected a value, actual none.");
            }
            i++;
        }
        return given;
    }

    /// <summary>"--x" or "-x", but not a negative number ("-3", "-1e5", "-.5"), which is a value.</summary>
    private static bool IsOptionName(string argument) =>
        argument.StartsWith('-') && argument.Length > 1 && !char.IsDigit(argument[1]) && argument[1] != '.' && !argument.StartsWith("-inf", StringComparison.OrdinalIgnoreCase)
        && !argument.Equals("-nan", StringComparison.OrdinalIgnoreCase);

    private static string VerbName(Type verbType) => verbType.GetCustomAttribute<VerbAttribute>()?.Name ?? "";
}
