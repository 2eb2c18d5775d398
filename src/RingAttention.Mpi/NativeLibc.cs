using System.Runtime.InteropServices;

namespace RingAttention.Mpi;

/// <summary>
/// The few C library calls the MPI layer needs: <c>dlopen</c> with <c>RTLD_GLOBAL</c> (Open MPI's plug-ins resolve
/// symbols of libmpi at their own load time, which <see cref="NativeLibrary.Load(string)"/>'s local scope hides), and
/// the abrupt endings fault injection simulates.
/// </summary>
internal static unsafe partial class NativeLibc
{
    // glibc 2.34+ exports dlopen from libc itself.
    private const string Library = "libc.so.6";

    public const int RtldNow = 0x2;
    public const int RtldGlobal = 0x100;
    public const int SigKill = 9;

    [LibraryImport(Library, EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint DlOpen(string file, int mode);

    /// <summary>The last dlopen error as a C string (owned by libc: read, never free).</summary>
    [LibraryImport(Library, EntryPoint = "dlerror")]
    public static partial byte* DlError();

    /// <summary>Ends the process at once: no atexit handlers, no managed shutdown, no MPI_Finalize.</summary>
    [LibraryImport(Library, EntryPoint = "_exit")]
    public static partial void ExitImmediately(int status);

    [LibraryImport(Library, EntryPoint = "kill")]
    public static partial int Kill(int pid, int signal);

    /// <summary>The last dlopen error, or a placeholder when libc gave none.</summary>
    public static string LastDlError()
    {
        byte* message = DlError();
        return message is null ? "unknown dlopen error" : Marshal.PtrToStringUTF8((nint)message) ?? "unknown dlopen error";
    }
}
