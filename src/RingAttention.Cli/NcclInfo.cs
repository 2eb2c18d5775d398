using RingAttention.Nccl;

namespace RingAttention.Cli;

/// <summary>The NCCL fact of <c>ringattn info</c>: the library's version, or why the NCCL ring cannot be used here.</summary>
internal static class NcclInfo
{
    public static IEnumerable<(string Name, string Value)> Facts()
    {
        if (!NcclLibrary.TryGetVersion(out string version, out string reason))
        {
            yield return ("transport nccl", "unavailable: " + reason);
            yield break;
        }
        string? problem = NcclLibrary.Problem();
        yield return ("transport nccl", problem is null
            ? $"available: NCCL {version} (libnccl.so.2); the ring between GPUs under MPI with --backend cuda"
            : "unavailable: " + problem);
    }
}
