using CommandLine;
using RingAttention.Cpu;

namespace RingAttention.Bench;

/// <summary>The whole bench: FMA peak, kernel grid, PyTorch peer, backward kernel (and its PyTorch peer), ring overhead, memory per rank; files under --out.</summary>
[Verb("all", isDefault: true, HelpText = "Run every section and write JSON, Markdown and PNG plots under --out (the default).")]
internal sealed class AllOptions
{
    /// <summary>Folder for results.json, results.md and the plots, when given.</summary>
    [Option("out", HelpText = "Folder for results.json, results.md and the PNG plots (default bench/results/<this machine>, e.g. bench/results/amd-epyc-family-25-model-1-2-cores; with --quick bench/results-quick, so a smoke run never replaces the committed figures).")]
    public string? OutFolder { get; set; }

    /// <summary>Where the files go: --out, else this machine's folder under bench/results, or bench/results-quick for --quick (not committed).</summary>
    public string Out => OutFolder ?? (Quick ? "bench/results-quick" : MachineIdentity.ThisMachineResultsFolder());

    /// <summary>Timed runs per case; the best is reported.</summary>
    [Option("repeats", Default = 3, HelpText = "Timed runs per case (the best is reported).")]
    public int Repeats { get; set; }

    /// <summary>A small grid that finishes in well under a minute (a smoke test of the bench itself).</summary>
    [Option("quick", Default = false, HelpText = "A small grid (N = 2048, few ring points): checks the bench runs, not a figure to report.")]
    public bool Quick { get; set; }

    /// <summary>Skip the peers (PyTorch, ONNX Runtime).</summary>
    [Option("no-peer", Default = false, HelpText = "Skip the peers (PyTorch when python3-torch is installed, ONNX Runtime).")]
    public bool NoPeer { get; set; }

    /// <summary>Python interpreter that has torch.</summary>
    [Option("python", Default = "/usr/bin/python3", HelpText = "Python interpreter for the PyTorch peer (Debian's python3-torch lives under /usr/bin/python3).")]
    public string Python { get; set; } = "/usr/bin/python3";
}

/// <summary>One kernel shape, for A/B comparisons while tuning.</summary>
[Verb("kernel", HelpText = "Time the block kernel on one shape (all N queries against all N keys in one call).")]
internal sealed class KernelOptions
{
    /// <summary>Sequence length.</summary>
    [Option("seq", Default = 16384, HelpText = "Sequence length N.")]
    public int SequenceLength { get; set; }

    /// <summary>Query heads.</summary>
    [Option("heads", Default = 4, HelpText = "Heads H.")]
    public int Heads { get; set; }

    /// <summary>Head dimension.</summary>
    [Option("head-dim", Default = 128, HelpText = "Head dimension D.")]
    public int HeadDim { get; set; }

    /// <summary>Causal mask.</summary>
    [Option("causal", Default = false, HelpText = "Causal mask.")]
    public bool Causal { get; set; }

    /// <summary>Kernel threads.</summary>
    [Option("threads", HelpText = "Kernel threads (default: all cores).")]
    public int? Threads { get; set; }

    /// <summary>Storage type.</summary>
    [Option("dtype", Default = ElementType.Float32, HelpText = "Float32, Float16 or BFloat16.")]
    public ElementType ElementType { get; set; }

    /// <summary>SIMD tier.</summary>
    [Option("tier", HelpText = "Vector512, Vector256 or Vector128 (default: the widest accelerated).")]
    public SimdTier? Tier { get; set; }

    /// <summary>Timed runs.</summary>
    [Option("repeats", Default = 5, HelpText = "Timed runs (each is printed; the best is summarised).")]
    public int Repeats { get; set; }
}

/// <summary>One ring-overhead problem, for A/B comparisons while tuning.</summary>
[Verb("ring", HelpText = "Time one problem on P = 1 and on the given P values in emulation (zigzag), same cores.")]
internal sealed class RingOptions
{
    /// <summary>Sequence length.</summary>
    [Option("seq", Default = 32768, HelpText = "Sequence length N.")]
    public int SequenceLength { get; set; }

    /// <summary>Query heads.</summary>
    [Option("heads", Default = 1, HelpText = "Heads H.")]
    public int Heads { get; set; }

    /// <summary>Head dimension.</summary>
    [Option("head-dim", Default = 128, HelpText = "Head dimension D.")]
    public int HeadDim { get; set; }

    /// <summary>Causal mask.</summary>
    [Option("causal", Default = false, HelpText = "Causal mask.")]
    public bool Causal { get; set; }

    /// <summary>Ring sizes.</summary>
    [Option("ranks", Separator = ',', Default = new[] { 2, 4, 8 }, HelpText = "Ring sizes to compare with P = 1 (comma-separated).")]
    public IEnumerable<int> Ranks { get; set; } = [];

    /// <summary>Timed runs.</summary>
    [Option("repeats", Default = 3, HelpText = "Timed runs per P (the best is reported).")]
    public int Repeats { get; set; }

    /// <summary>Kernel threads.</summary>
    [Option("threads", HelpText = "Kernel threads (default: all cores).")]
    public int? Threads { get; set; }
}
