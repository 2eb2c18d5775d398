using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RingAttention.Cuda.Native;

/// <summary>NVRTC, the CUDA run-time compiler (whichever soname <see cref="NativeLibraries"/> found).</summary>
internal static unsafe partial class NativeNvrtc
{
    static NativeNvrtc() => NativeLibraries.EnsureResolver();

    [LibraryImport(NativeLibraries.NvrtcImportName)]
    public static partial NvrtcResult nvrtcVersion(out int major, out int minor);

    [LibraryImport(NativeLibraries.NvrtcImportName)]
    public static partial NvrtcResult nvrtcGetNumSupportedArchs(out int count);

    [LibraryImport(NativeLibraries.NvrtcImportName)]
    public static partial NvrtcResult nvrtcGetSupportedArchs(int* architectures);

    [LibraryImport(NativeLibraries.NvrtcImportName)]
    public static partial NvrtcResult nvrtcCreateProgram(out nint program, byte* source, byte* name, int headerCount, byte** headers, byte** includeNames);

    [LibraryImport(NativeLibraries.NvrtcImportName)]
    public static partial NvrtcResult nvrtcDestroyProgram(ref nint program);

    [LibraryImport(NativeLibraries.NvrtcImportName)]
    public static partial NvrtcResult nvrtcCompileProgram(NvrtcProgramHandle program, int optionCount, byte** options);

    [LibraryImport(NativeLibraries.NvrtcImportName)]
    public static partial NvrtcResult nvrtcGetProgramLogSize(NvrtcProgramHandle program, out nuint size);

    [LibraryImport(NativeLibraries.NvrtcImportName)]
    public static partial NvrtcResult nvrtcGetProgramLog(NvrtcProgramHandle program, byte* log);

    [LibraryImport(NativeLibraries.NvrtcImportName)]
    public static partial NvrtcResult nvrtcGetPTXSize(NvrtcProgramHandle program, out nuint size);

    [LibraryImport(NativeLibraries.NvrtcImportName)]
    public static partial NvrtcResult nvrtcGetPTX(NvrtcProgramHandle program, byte* ptx);

    [LibraryImport(NativeLibraries.NvrtcImportName)]
    public static partial NvrtcResult nvrtcGetCUBINSize(NvrtcProgramHandle program, out nuint size);

    [LibraryImport(NativeLibraries.NvrtcImportName)]
    public static partial NvrtcResult nvrtcGetCUBIN(NvrtcProgramHandle program, byte* cubin);

    // const char* owned by NVRTC: returned as a pointer, never as a marshalled string (REFERENCE.md).
    [LibraryImport(NativeLibraries.NvrtcImportName)]
    public static partial byte* nvrtcGetErrorString(NvrtcResult result);

    /// <summary>Throws an <see cref="NvrtcException"/> naming <paramref name="call"/> unless <paramref name="result"/> is success.</summary>
    public static void ThrowIfFailed(NvrtcResult result, [CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result != NvrtcResult.Success)
        {
            throw new NvrtcException(result, call, ErrorString(result));
        }
    }

    /// <summary>NVRTC's text for <paramref name="result"/>.</summary>
    public static string ErrorString(NvrtcResult result) => Marshal.PtrToStringUTF8((nint)nvrtcGetErrorString(result)) ?? result.ToString();
}
