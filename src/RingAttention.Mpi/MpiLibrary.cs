using System.Runtime.InteropServices;
using System.Text;

namespace RingAttention.Mpi;

/// <summary>
/// The MPI library this process uses, found at run time and matched to the launcher that started it: Open MPI's
/// <c>libmpi.so.40</c> under Open MPI's launcher, the MPICH family's <c>libmpich.so.12</c> or <c>libmpi.so.12</c>
/// under Hydra/PMI, either when no launcher is present (singleton), or whatever
/// <see cref="OverrideVariable"/> names. The implementation is detected from the library's exports, not assumed.
/// </summary>
public sealed class MpiLibrary
{
    /// <summary>Environment variable naming the MPI library to load (a file name or path), overriding the search.</summary>
    public const string OverrideVariable = "RINGATTN_MPI_LIBRARY";

    private static readonly Lock LoadLock = new();
    private static MpiLibrary? _loaded;

    private MpiLibrary(string name, nint handle, MpiFamily family, MpiConstants constants, string choice)
    {
        (Name, Handle, Family, Constants, Choice) = (name, handle, family, constants, choice);
    }

    /// <summary>The file name or path that was loaded.</summary>
    public string Name { get; }

    /// <summary>The implementation family, detected from the library's exports.</summary>
    public MpiFamily Family { get; }

    /// <summary>Why this library was chosen (launcher evidence or the override).</summary>
    public string Choice { get; }

    internal nint Handle { get; }

    internal MpiConstants Constants { get; }

    /// <summary>First line of <c>MPI_Get_library_version</c> (callable before MPI is initialised).</summary>
    public unsafe string Version
    {
        get
        {
            var text = new byte[MpiConstants.MaxVersionBytes];
            int length = 0;
            fixed (byte* p = text)
            {
                MpiException.ThrowIfFailed(NativeMpi.MPI_Get_library_version(p, &length));
            }
            string version = Encoding.UTF8.GetString(text, 0, Math.Clamp(length, 0, text.Length)).TrimEnd('\0', ' ', '\n');
            int newline = version.IndexOf('\n');
            // MPICH separates its fields with tabs: one line of single spaces reads the same for every library.
            return string.Join(' ', (newline < 0 ? version : version[..newline]).Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries));
        }
    }

    /// <summary>Loads the library for this process once; later calls return the same one.</summary>
    /// <exception cref="DllNotFoundException">No candidate could be loaded; the message lists each and why.</exception>
    public static MpiLibrary Load()
    {
        lock (LoadLock)
        {
            return _loaded ??= LoadFirst(MpiLauncher.Detect());
        }
    }

    /// <summary>Like <see cref="Load"/>, but returns null with the reason instead of throwing.</summary>
    public static MpiLibrary? TryLoad(out string reason)
    {
        try
        {
            var library = Load();
            reason = library.Choice;
            return library;
        }
        catch (Exception e) when (e is DllNotFoundException or NotSupportedException or EntryPointNotFoundException)
        {
            reason = e.Message;
            return null;
        }
    }

    /// <summary>The libraries tried, in order, for a process started by <paramref name="launcher"/> (null: none).</summary>
    public static IReadOnlyList<string> Candidates(MpiLauncher? launcher)
    {
        string? chosen = Environment.GetEnvironmentVariable(OverrideVariable);
        if (!string.IsNullOrWhiteSpace(chosen))
        {
            return [chosen];
        }
        return launcher?.Family switch
        {
            MpiFamily.OpenMpi => ["libmpi.so.40"],
            MpiFamily.Mpich => ["libmpich.so.12", "libmpi.so.12"],
            _ => ["libmpi.so.40", "libmpich.so.12", "libmpi.so.12"],
        };
    }

    private static MpiLibrary LoadFirst(MpiLauncher? launcher)
    {
        var failures = new List<string>();
        bool overridden = !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(OverrideVariable));
        foreach (string name in Candidates(launcher))
        {
            // RTLD_GLOBAL: Open MPI's components are loaded by libmpi later and link against its symbols.
            nint handle = NativeLibc.DlOpen(name, NativeLibc.RtldNow | NativeLibc.RtldGlobal);
            if (handle == 0)
            {
                failures.Add($"{name}: {NativeLibc.LastDlError()}");
                continue;
            }
            var family = DetectFamily(name, handle);
            string choice = overridden ? $"{name} from {OverrideVariable}"
                : launcher is null ? $"{name} (no MPI launcher in the environment: singleton)"
                : $"{name} for the {launcher.Family} launcher ({launcher.Evidence} is set)";
            if (launcher is not null && launcher.Family != family)
            {
                // Each process would initialise as a singleton of size 1 and run the whole job alone.
                throw new NotSupportedException(
                    $"{name} is {family}, but this process was started by the {launcher.Family} launcher ({launcher.Evidence} is set): " +
                    $"use the mpiexec of the same MPI as the library, or set {OverrideVariable}");
            }
            var constants = family == MpiFamily.OpenMpi
                ? MpiConstants.OpenMpi(symbol => Export(name, handle, symbol))
                : MpiConstants.Mpich;
            return new MpiLibrary(name, handle, family, constants, choice);
        }
        string tried = string.Join("; ", failures);
        throw new DllNotFoundException(overridden
            ? $"the MPI library named by {OverrideVariable} could not be loaded: {tried}"
            : $"no MPI library found ({tried}); install Open MPI (libopenmpi3) or MPICH (libmpich12), or set {OverrideVariable}");
    }

    private static MpiFamily DetectFamily(string name, nint handle)
    {
        if (NativeLibrary.TryGetExport(handle, "ompi_mpi_comm_world", out _))
        {
            return MpiFamily.OpenMpi;
        }
        if (NativeLibrary.TryGetExport(handle, "MPI_Abi_get_version", out _))
        {
            throw new NotSupportedException($"{name} implements the MPI 5 standard ABI, which these bindings do not support yet; use the implementation's native library (libmpi.so.40 or libmpich.so.12)");
        }
        if (!NativeLibrary.TryGetExport(handle, "MPI_Init_thread", out _))
        {
            throw new EntryPointNotFoundException($"{name} does not export MPI_Init_thread: not an MPI library");
        }
        // Without Open MPI's objects, integer handles: the MPICH ABI that its derivatives share.
        return MpiFamily.Mpich;
    }

    private static nint Export(string name, nint handle, string symbol) =>
        NativeLibrary.TryGetExport(handle, symbol, out nint address)
            ? address
            : throw new EntryPointNotFoundException($"{name} looks like Open MPI but does not export {symbol}");
}
