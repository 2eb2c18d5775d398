namespace RingAttention.Nccl;

/// <summary>What one rank found when it looked for its GPU; every rank's claim is gathered before NCCL starts.</summary>
/// <param name="Rank">The rank (in MPI_COMM_WORLD).</param>
/// <param name="Host">The node it runs on.</param>
/// <param name="LocalRank">Its rank among the ranks on that node.</param>
/// <param name="DeviceCount">CUDA devices the process sees (after CUDA_VISIBLE_DEVICES).</param>
/// <param name="Device">The device ordinal it selected; null when its local rank has no GPU or CUDA is unavailable.</param>
/// <param name="Uuid">The selected device's UUID (identical in every process that sees that GPU).</param>
/// <param name="Unavailable">Why CUDA or NCCL cannot be used by this process at all; null when they can.</param>
public sealed record GpuClaim(int Rank, string Host, int LocalRank, int DeviceCount, int? Device, string? Uuid, string? Unavailable);

/// <summary>How the ranks' claims fit together.</summary>
public enum GpuVerdictKind
{
    /// <summary>Every rank has a GPU of its own.</summary>
    Usable,

    /// <summary>CUDA or NCCL cannot be used on some rank (no driver, no device, no NVRTC, no NCCL, GPU too old).</summary>
    Unavailable,

    /// <summary>GPUs exist, but the launch does not give every rank its own: two ranks on one GPU, or more ranks on a node than it has GPUs.</summary>
    Conflict,
}

/// <summary>The job's verdict on its GPU placement, the same on every rank.</summary>
/// <param name="Kind">Usable, unavailable or conflicting.</param>
/// <param name="Message">For the last two, one sentence naming the rank(s), the host and the cause.</param>
public sealed record GpuVerdict(GpuVerdictKind Kind, string Message);

/// <summary>
/// The rules that give each rank one GPU of its own, as pure functions of what the ranks report: a rank takes the
/// device of its local rank on the node; the placement is refused when a local rank has no such device or when two
/// ranks would share one GPU (seen as the same UUID, which also catches ranks that were handed the same GPU under
/// different ordinals).
/// </summary>
public static class GpuPlacement
{
    /// <summary>
    /// The device ordinal for local rank <paramref name="localRank"/> when the process sees
    /// <paramref name="deviceCount"/> devices: the local rank itself; or device 0 when the process sees exactly one
    /// (the launcher gave each rank its own GPU, e.g. Slurm's <c>--gpus-per-task=1</c>; if ranks were in fact given
    /// the same one, <see cref="Decide"/> refuses them by UUID). Null when the local rank has no device.
    /// </summary>
    public static int? DeviceFor(int localRank, int deviceCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(localRank);
        ArgumentOutOfRangeException.ThrowIfNegative(deviceCount);
        if (deviceCount == 1)
        {
            return 0;
        }
        return localRank < deviceCount ? localRank : null;
    }

    /// <summary>The verdict on every rank's claim (in any order): unavailable first, then conflicts, else usable.</summary>
    public static GpuVerdict Decide(IReadOnlyList<GpuClaim> claims)
    {
        ArgumentNullException.ThrowIfNull(claims);
        var ordered = claims.OrderBy(c => c.Rank).ToArray();
        var unavailable = ordered.Where(c => c.Unavailable is not null).ToArray();
        if (unavailable.Length > 0)
        {
            var first = unavailable[0];
            string others = unavailable.Length > 1 ? $"; {unavailable.Length - 1} other rank(s) cannot use CUDA or NCCL either" : "";
            return new GpuVerdict(GpuVerdictKind.Unavailable, $"rank {first.Rank} on host {first.Host}: {first.Unavailable}{others}");
        }
        if (ordered.FirstOrDefault(c => c.Device is null) is { } homeless)
        {
            int onNode = ordered.Count(c => c.Host == homeless.Host);
            return new GpuVerdict(GpuVerdictKind.Conflict,
                $"rank {homeless.Rank} is local rank {homeless.LocalRank} on host {homeless.Host}, which shows {homeless.DeviceCount} CUDA device(s) to it: " +
                $"one GPU per rank, so start at most {homeless.DeviceCount} rank(s) on that node ({onNode} were started there), " +
                "or give each rank its own GPU (CUDA_VISIBLE_DEVICES, Slurm's --gpus-per-task=1)");
        }
        var shared = ordered.GroupBy(c => c.Uuid).FirstOrDefault(g => g.Count() > 1);
        if (shared is not null)
        {
            var ranks = shared.ToArray();
            string names = ranks.Length == 2 ? $"{ranks[0].Rank} and {ranks[1].Rank}" : string.Join(", ", ranks[..^1].Select(c => c.Rank)) + $" and {ranks[^1].Rank}";
            string hosts = string.Join(", ", ranks.Select(c => c.Host).Distinct());
            string devices = string.Join(", ", ranks.Select(c => c.Device).Distinct());
            return new GpuVerdict(GpuVerdictKind.Conflict,
                $"ranks {names} on host {hosts} would share one GPU (device {devices}, {shared.Key}): one GPU per rank, so start at most as many ranks " +
                "on a node as it has GPUs and do not give several ranks the same CUDA_VISIBLE_DEVICES");
        }
        return new GpuVerdict(GpuVerdictKind.Usable, $"{ordered.Length} rank(s), one GPU each");
    }
}
