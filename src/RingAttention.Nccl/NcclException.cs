using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RingAttention.Nccl;

/// <summary>A failed NCCL call: the call's text, NCCL's status and its own message.</summary>
public sealed class NcclException(string call, NcclResult result, string detail)
    : Exception($"{call} failed: {result} ({detail})")
{
    /// <summary>The failing call as written in the source.</summary>
    public string Call { get; } = call;

    /// <summary>NCCL's status code.</summary>
    public NcclResult Result { get; } = result;

    /// <summary>Throws when <paramref name="result"/> is not success, quoting the call and NCCL's explanation.</summary>
    internal static unsafe void ThrowIfFailed(NcclResult result, nint comm = 0, [CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result is NcclResult.Success or NcclResult.InProgress)
        {
            return;
        }
        string detail = Marshal.PtrToStringUTF8((nint)NativeNccl.GetErrorString(result)) ?? "no description";
        string last = LastError(comm);
        throw new NcclException(call, result, last.Length > 0 ? $"{detail}: {last}" : detail);
    }

    private static unsafe string LastError(nint comm)
    {
        try
        {
            return Marshal.PtrToStringUTF8((nint)NativeNccl.GetLastError(comm)) ?? "";
        }
        catch (EntryPointNotFoundException)
        {
            // Before NCCL 2.13 there is no last-error text; the status string has to do.
            return "";
        }
    }
}
