using CommandLine;
using RingAttention.IO;

namespace RingAttention.Cli;

/// <summary>Options of <c>ringattn run</c> for the user's own tensors: where Q, K, V come from and where O and LSE go.</summary>
/// <remarks>
/// --q, --k and --v are single-letter names, which CommandLineParser only allows as short names; its matching of a
/// one-letter name to the short name whatever the dashes makes --q, -q and --query all work.
/// </remarks>
public sealed partial record RunOptions
{
    /// <summary>Queries from a .npy file.</summary>
    [Option('q', "query", HelpText = "Queries Q from a .npy file (with --k and --v); the problem shape and dtype then come from the files.")]
    public string? QueryFile { get; init; }

    /// <summary>Keys from a .npy file.</summary>
    [Option('k', "key", HelpText = "Keys K from a .npy file (with --q and --v).")]
    public string? KeyFile { get; init; }

    /// <summary>Values from a .npy file.</summary>
    [Option('v', "value", HelpText = "Values V from a .npy file (with --q and --k).")]
    public string? ValueFile { get; init; }

    /// <summary>Q, K and V from one safetensors file.</summary>
    [Option("input", HelpText = "Q, K and V as named tensors of one .safetensors file (names from --q-name, --k-name, --v-name).")]
    public string? InputFile { get; init; }

    /// <summary>Name of Q in the safetensors file.</summary>
    [Option("q-name", Default = "q", HelpText = "Name of the query tensor in --input.")]
    public string QueryName { get; init; } = "q";

    /// <summary>Name of K in the safetensors file.</summary>
    [Option("k-name", Default = "k", HelpText = "Name of the key tensor in --input.")]
    public string KeyName { get; init; } = "k";

    /// <summary>Name of V in the safetensors file.</summary>
    [Option("v-name", Default = "v", HelpText = "Name of the value tensor in --input.")]
    public string ValueName { get; init; } = "v";

    /// <summary>Axis order of the input and output tensors.</summary>
    [Option("input-layout", Default = TensorLayout.Bshd, HelpText = "Axis order of Q, K, V and O in files: bshd ([batch, seq, heads, head_dim], flash-attn) or bhsd ([batch, heads, seq, head_dim], PyTorch SDPA).")]
    public TensorLayout InputLayout { get; init; }

    /// <summary>Where O goes.</summary>
    [Option("out", HelpText = "Write O to this .npy or .safetensors file (tensor 'o'), in --input-layout order and the run's dtype; replaced only once every rank succeeded.")]
    public string? OutputFile { get; init; }

    /// <summary>Where LSE goes.</summary>
    [Option("lse-out", HelpText = "Write the log-sum-exp, fp32 [batch, heads, seq] (natural log), to this .npy or .safetensors file (tensor 'lse').")]
    public string? LseOutputFile { get; init; }
}
