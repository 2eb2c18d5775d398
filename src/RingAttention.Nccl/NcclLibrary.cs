using System.Runtime.InteropServices;

namespace RingAttention.Nccl;

/// <summary>Whether NCCL can be used here, and its version.</summary>
public static class NcclLibrary
{
    /// <summary>The oldest NCCL with point-to-point send/receive (<c>ncclSend</c>, <c>ncclRecv</c>), which the ring needs.</summary>
    public static readonly Version MinimumVersion = new(2, 7, 0);

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
        version = DecodeVersion(code).ToString(3);
        reason = "";
        return true;
    }

    /// <summary>Null when NCCL loads and is recent enough for the ring; otherwise why not.</summary>
    public static string? Problem()
    {
        if (!TryGetVersion(out string version, out string reason))
        {
            return reason;
        }
        return Version.Parse(version) < MinimumVersion
            ? $"NCCL {version} is too old: the ring needs NCCL {MinimumVersion.ToString(3)} or newer (ncclSend/ncclRecv)"
            : null;
    }

    /// <summary>
    /// The version in an <c>NCCL_VERSION_CODE</c>: major·10000 + minor·100 + patch since 2.9, major·1000 + minor·100
    /// + patch before.
    /// </summary>
    public static Version DecodeVersion(int code)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(code);
        return code >= 10000 ? new Version(code / 10000, code / 100 % 100, code % 100) : new Version(code / 1000, code / 100 % 10, code % 100);
    }

    /// <summary>A fresh unique id (rank 0 makes it and broadcasts its bytes).</summary>
    public static NcclUniqueId CreateUniqueId()
    {
        NcclException.ThrowIfFailed(NativeNccl.GetUniqueId(out var id));
        return id;
    }
}
