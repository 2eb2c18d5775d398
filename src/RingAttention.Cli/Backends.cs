using RingAttention.Cpu;
using RingAttention.Kernels;

namespace RingAttention.Cli;

/// <summary>Chooses the device backend.</summary>
internal static class Backends
{
    public static IAttentionBackend Create(RunOptions run) => new CpuBackend(run.Threads);
}
