using RingAttention.Kernels;

namespace RingAttention.Cli;

/// <summary>Chooses where the job's ranks live.</summary>
internal static class JobHosts
{
    public static IJobHost Create(RunOptions run, IAttentionBackend backend) => new EmulationHost(run.Ranks, backend);
}
