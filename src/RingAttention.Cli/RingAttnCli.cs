using System.Reflection;
using CommandLine;
using CommandLine.Text;

namespace RingAttention.Cli;

/// <summary>
/// The <c>ringattn</c> entry point: parses the verb and its options and returns the exit code. Help and version
/// (<c>--help</c>, <c>run --help</c>, <c>help run</c>, <c>--version</c>, <c>version</c>) print to stdout and exit 0;
/// a usage error prints one line to stderr and exits 2.
/// </summary>
internal static class RingAttnCli
{
    /// <summary>Every verb, one line each.</summary>
    private static readonly CommandVerb[] Verbs =
    [
        CommandVerb.Of<RunOptions>(RunCommand.Execute, run => run.Verbose),
        CommandVerb.Of<InfoOptions>(InfoCommand.Execute),
        CommandVerb.Of<SelfTestOptions>(GpuCommands.SelfTest),
        CommandVerb.Of<BenchGpuOptions>(GpuCommands.BenchGpu),
        CommandVerb.Of<PlanOptions>(PlanCommand.Execute),
        CommandVerb.Of<DecodeOptions>(DecodeCommand.Execute),
    ];

    public static int Run(string[] args)
    {
        ConsoleSetup.Apply();
        using var parser = new Parser(settings =>
        {
            settings.CaseInsensitiveEnumValues = true;
            settings.HelpWriter = null;
        });
        var result = parser.ParseArguments(args, Verbs.Select(v => v.OptionsType).ToArray());
        if (result is Parsed<object> parsed)
        {
            var verb = Verbs.Single(v => v.OptionsType == parsed.Value.GetType());
            return CommandRunner.Guarded(() => verb.Execute(parsed.Value, new GivenArguments(args, CommandLineCheck.GivenOptions(verb.OptionsType, args.Skip(1).ToArray()))),
                verb.Verbose(parsed.Value));
        }
        var errors = ((NotParsed<object>)result).Errors.ToArray();
        if (errors.OfType<HelpVerbRequestedError>().FirstOrDefault() is { Matched: true } helpVerb)
        {
            // "help run" shows what "run --help" shows.
            return Run([helpVerb.Verb, "--help"]);
        }
        if (errors.Any(e => e is HelpRequestedError or HelpVerbRequestedError or VersionRequestedError))
        {
            Console.Out.WriteLine(errors.Any(e => e is VersionRequestedError)
                ? $"ringattn {Version}"
                : HelpText.AutoBuild(result, help =>
                {
                    help.Heading = $"ringattn {Version}";
                    help.Copyright = "exact ring attention over P ranks (MIT License)";
                    return help;
                }, example => example).ToString());
            return ExitCodes.Ok;
        }
        Console.Error.WriteLine($"ringattn: {TerminalText.Escape(Describe(errors[0]))}");
        return ExitCodes.BadUsage;
    }

    /// <summary>The informational version (the package version, plus the commit when the build knows it).</summary>
    public static string Version =>
        typeof(RingAttnCli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>One line for a parse error, with where to look for help (never the whole help text).</summary>
    private static string Describe(Error error)
    {
        string verbs = string.Join(", ", Verbs.Select(v => v.OptionsType.GetCustomAttribute<VerbAttribute>()!).Where(v => !v.Hidden).Select(v => v.Name));
        return error switch
        {
            NoVerbSelectedError => $"expected a command ({verbs}); see 'ringattn --help'.",
            BadVerbSelectedError bad => $"unknown command '{bad.Token}': expected one of {verbs}; see 'ringattn --help'.",
            UnknownOptionError unknown => $"unknown option '{(unknown.Token.Length == 1 ? "-" : "--")}{unknown.Token}'; see 'ringattn <command> --help' for the options.",
            _ => SentenceBuilder.Create().FormatError(error) + "; see 'ringattn <command> --help'.",
        };
    }
}
