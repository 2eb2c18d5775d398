using System.Reflection;
using System.Runtime.InteropServices;

namespace RingAttention.Cuda.Native;

/// <summary>
/// Finds the CUDA driver and NVRTC at run time. The driver is always <c>libcuda.so.1</c> (installed with the
/// NVIDIA driver); NVRTC ships with the toolkit under a versioned soname, so the newest known one that loads wins:
/// <see cref="NvrtcCandidates"/> in order, after an explicit path in <c>RINGATTN_NVRTC</c>.
/// </summary>
internal static class NativeLibraries
{
    /// <summary>The name the <c>LibraryImport</c>s of <see cref="NativeCuda"/> use.</summary>
    public const string CudaImportName = "ringattn-cuda";

    /// <summary>The name the <c>LibraryImport</c>s of <see cref="NativeNvrtc"/> use.</summary>
    public const string NvrtcImportName = "ringattn-nvrtc";

    /// <summary>The driver's soname.</summary>
    public const string CudaLibrary = "libcuda.so.1";

    /// <summary>Environment variable naming an NVRTC library to try first.</summary>
    public const string NvrtcOverrideVariable = "RINGATTN_NVRTC";

    /// <summary>NVRTC sonames in probing order: CUDA 13, 12, 11.2+ (11.x keeps the 11.2 soname), then the unversioned name.</summary>
    public static readonly IReadOnlyList<string> NvrtcCandidates = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"];

    private static readonly Lock Sync = new();
    private static bool _resolverInstalled;
    private static (nint Handle, string Name, string? Error)? _nvrtc;
    private static (nint Handle, string? Error)? _cuda;

    /// <summary>Installs the resolver for this assembly's imports (once).</summary>
    public static void EnsureResolver()
    {
        lock (Sync)
        {
            if (_resolverInstalled)
            {
                return;
            }
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
            _resolverInstalled = true;
        }
    }

    /// <summary>The loaded NVRTC's file name, or null with the reason.</summary>
    public static string? NvrtcName(out string? error)
    {
        var nvrtc = LoadNvrtc();
        error = nvrtc.Error;
        return nvrtc.Handle == 0 ? null : nvrtc.Name;
    }

    /// <summary>Whether the driver library loads, with the reason when it does not.</summary>
    public static bool CudaLoads(out string? error)
    {
        var cuda = LoadCuda();
        error = cuda.Error;
        return cuda.Handle != 0;
    }

    /// <summary>
    /// The first of <paramref name="candidates"/> that <paramref name="tryLoad"/> opens (a non-zero handle), or
    /// (0, null) with every name tried in <paramref name="error"/>.
    /// </summary>
    public static (nint Handle, string? Name) Probe(IEnumerable<string> candidates, Func<string, nint> tryLoad, out string? error)
    {
        var tried = new List<string>();
        foreach (var name in candidates)
        {
            nint handle = tryLoad(name);
            if (handle != 0)
            {
                error = null;
                return (handle, name);
            }
            tried.Add(name);
        }
        error = $"no NVRTC library could be loaded (tried {string.Join(", ", tried)}); install the CUDA toolkit's NVRTC " +
                $"(Debian: libnvrtc11.2 from non-free) or set {NvrtcOverrideVariable} to its path";
        return (0, null);
    }

    /// <summary>The probing order: the override (when set), then <see cref="NvrtcCandidates"/>.</summary>
    public static IEnumerable<string> NvrtcProbeOrder(string? overridePath) =>
        string.IsNullOrWhiteSpace(overridePath) ? NvrtcCandidates : [overridePath, .. NvrtcCandidates];

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) => name switch
    {
        CudaImportName => LoadCuda().Handle,
        NvrtcImportName => LoadNvrtc().Handle,
        _ => 0,
    };

    private static (nint Handle, string Name, string? Error) LoadNvrtc()
    {
        lock (Sync)
        {
            if (_nvrtc is null)
            {
                var order = NvrtcProbeOrder(Environment.GetEnvironmentVariable(NvrtcOverrideVariable));
                var (handle, name) = Probe(order, TryLoad, out string? error);
                _nvrtc = (handle, name ?? "", error);
            }
            return _nvrtc.Value;
        }
    }

    private static (nint Handle, string? Error) LoadCuda()
    {
        lock (Sync)
        {
            if (_cuda is null)
            {
                nint handle = TryLoad(CudaLibrary);
                _cuda = (handle, handle == 0 ? $"{CudaLibrary} could not be loaded: no NVIDIA driver is installed on this machine" : null);
            }
            return _cuda.Value;
        }
    }

    private static nint TryLoad(string name) => NativeLibrary.TryLoad(name, out nint handle) ? handle : 0;
}
