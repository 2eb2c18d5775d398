using CommandLine;

namespace RingAttention.Cli;

/// <summary>Which device backend runs the block kernel.</summary>
public enum BackendKind
{
    /// <summary>The CPU backend.</summary>
    Cpu,
    /// <summary>The CUDA backend; fails at once when no usable GPU, driver or NVRTC exists.</summary>
    Cuda,
    /// <summary>CUDA when usable, else the CPU (said on stderr).</summary>
    Auto,
}

public sealed partial record RunOptions
{
    /// <summary>Device backend.</summary>
    [Option("backend", Default = BackendKind.Cpu, HelpText = "Device backend: cpu, cuda (P virtual ranks on one GPU in emulation) or auto (CUDA when usable, else CPU).")]
    public BackendKind Backend { get; init; }

    /// <summary>CUDA device ordinal.</summary>
    [Option("device", Default = 0, HelpText = "CUDA device ordinal for --backend cuda/auto.")]
    public int Device { get; init; }
}
