using System.Runtime.InteropServices;

namespace RingAttention.Cli;

/// <summary>
/// Which file a path names, whatever the path: the (device, inode) pair from stat(2), which symlinks, hard links,
/// ".." and bind-mounted aliases all share. Used to refuse an output that would replace one of the inputs.
/// </summary>
internal static partial class FileIdentity
{
    /// <summary>(device, inode) of the file <paramref name="path"/> names (symlinks followed), or null when it does not exist or stat is unavailable.</summary>
    public static (ulong Device, ulong Inode)? Of(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        // struct stat on Linux x86-64 and arm64 starts with st_dev and st_ino, 8 bytes each; 256 bytes covers the whole struct.
        Span<ulong> buffer = stackalloc ulong[32];
        try
        {
            return Stat(path, ref MemoryMarshal.GetReference(buffer)) == 0 ? (buffer[0], buffer[1]) : null;
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Whether <paramref name="a"/> and <paramref name="b"/> name the same file: the same full path with symlinks resolved, or the same existing file.</summary>
    public static bool Same(string a, string b)
    {
        if (Resolved(a) == Resolved(b))
        {
            return true;
        }
        var (first, second) = (Of(a), Of(b));
        return first is not null && first == second;
    }

    private static string Resolved(string path)
    {
        string full = Path.GetFullPath(path);
        try
        {
            return new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full;
        }
        catch (IOException)
        {
            return full;
        }
    }

    [LibraryImport("libc.so.6", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, ref ulong buffer);
}
