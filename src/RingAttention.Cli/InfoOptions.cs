using CommandLine;

namespace RingAttention.Cli;

/// <summary>Options of <c>ringattn info</c>.</summary>
[Verb("info", HelpText = "Describe this machine and which backends and transports are available.")]
public sealed record InfoOptions
{
    /// <summary>JSON output.</summary>
    [Option("json", Default = false, HelpText = "Print the description as JSON.")]
    public bool Json { get; init; }
}
