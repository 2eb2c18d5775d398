using CommandLine;

namespace RingAttention.Cli;

/// <summary>What the parser saw besides the options' values: the verb's arguments and the long names of the options given.</summary>
/// <param name="Arguments">The arguments as given, the verb first.</param>
/// <param name="Options">Long names (no dashes) of the options given, so that a default can be told from an explicit value.</param>
public sealed record GivenArguments(IReadOnlyList<string> Arguments, IReadOnlySet<string> Options)
{
    /// <summary>The command as typed, for reports.</summary>
    public string CommandText => "ringattn " + string.Join(' ', Arguments);
}

/// <summary>A verb of <c>ringattn</c>: its options type (a CommandLineParser verb) and what runs it.</summary>
internal sealed record CommandVerb(Type OptionsType, Func<object, GivenArguments, int> Execute, Func<object, bool> Verbose)
{
    /// <summary>A verb whose command also gets what was given on the command line.</summary>
    public static CommandVerb Of<TOptions>(Func<TOptions, GivenArguments, int> execute, Func<TOptions, bool>? verbose = null) =>
        new(typeof(TOptions), (options, given) => execute((TOptions)options, given), options => verbose?.Invoke((TOptions)options) ?? false);

    /// <summary>A verb whose command needs only its options.</summary>
    public static CommandVerb Of<TOptions>(Func<TOptions, int> execute) => Of<TOptions>((options, _) => execute(options));
}
