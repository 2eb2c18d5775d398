using System.Runtime.InteropServices;

namespace RingAttention.Nccl;

/// <summary>Whether NCCL can be used here, and its version.</summary>
public static class NcclLibrary
{
    /// <summary>Loads libnccl.so.2 if present; on failure <paramref name="reason"/> says why.</summary>
    public static bool TryGetVersion(out string version, out string reason)
    {
        version = "";
        if (!NativeLibrary.TryLoad(NativeNccl.Library, typeof(NcclLibrary).Assembly, null, out _))
        {
            reason = $"{NativeNccl.Library} not found (install NCCL, e.g. the libnccl2 package, or put it on LD_LIBRARY_PATH)";
            return false;
        }
        NcclException.ThrowIfFailed(NativeNccl.GetVersion(out int code));
        // NCCL_VERSION(major, minor, patch) = major·10000 + minor·100 + patch since 2.9.
        version = $"{code / 10000}.{code / 100 % 100}.{code % 100}";
        reason = "";
        return true;
    }

    /// <summary>A fresh unique id (rank 0 makes it and broadcasts its bytes).</summary>
    public static NcclUniqueId CreateUniqueId()
    {
        NcclException.ThrowIfFailed(NativeNccl.GetUniqueId(out var id));
        return id;
    }
}
