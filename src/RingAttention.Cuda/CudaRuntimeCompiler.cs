using System.Runtime.InteropServices;
using System.Text;
using RingAttention.Cuda.Native;
using static RingAttention.Cuda.Native.NativeNvrtc;

namespace RingAttention.Cuda;

/// <summary>
/// One NVRTC program (as ManagedCuda's <c>CudaRuntimeCompiler</c>): a source with in-memory headers, compiled with
/// options; then the log, PTX and (for a real sm_XX architecture) CUBIN.
/// </summary>
public sealed unsafe class CudaRuntimeCompiler : IDisposable
{
    private readonly NvrtcProgramHandle _program;

    /// <summary>Creates the program <paramref name="name"/> from <paramref name="source"/>; <paramref name="headers"/> maps include names to contents.</summary>
    public CudaRuntimeCompiler(string source, string name, IReadOnlyDictionary<string, string>? headers = null)
    {
        var headerList = headers?.OrderBy(h => h.Key, StringComparer.Ordinal).ToArray() ?? [];
        using var strings = new Utf8Strings();
        byte** contents = stackalloc byte*[Math.Max(headerList.Length, 1)];
        byte** names = stackalloc byte*[Math.Max(headerList.Length, 1)];
        for (int i = 0; i < headerList.Length; i++)
        {
            contents[i] = strings.Add(headerList[i].Value);
            names[i] = strings.Add(headerList[i].Key);
        }
        ThrowIfFailed(nvrtcCreateProgram(out nint program, strings.Add(source), strings.Add(name), headerList.Length, contents, names));
        _program = new NvrtcProgramHandle(program);
        Name = name;
    }

    /// <summary>The program's name (shown in NVRTC's messages).</summary>
    public string Name { get; }

    /// <summary>NVRTC's version as (major, minor), e.g. (11, 8).</summary>
    public static (int Major, int Minor) Version()
    {
        ThrowIfFailed(nvrtcVersion(out int major, out int minor));
        return (major, minor);
    }

    /// <summary>The real architectures (e.g. 80 for sm_80) this NVRTC can compile for.</summary>
    public static int[] SupportedArchitectures()
    {
        ThrowIfFailed(nvrtcGetNumSupportedArchs(out int count));
        var architectures = new int[count];
        fixed (int* data = architectures)
        {
            ThrowIfFailed(nvrtcGetSupportedArchs(data));
        }
        return architectures;
    }

    /// <summary>Compiles with <paramref name="options"/>; on failure throws an <see cref="NvrtcException"/> carrying the log.</summary>
    public void Compile(IReadOnlyList<string> options)
    {
        using var strings = new Utf8Strings();
        byte** optionPointers = stackalloc byte*[Math.Max(options.Count, 1)];
        for (int i = 0; i < options.Count; i++)
        {
            optionPointers[i] = strings.Add(options[i]);
        }
        var result = nvrtcCompileProgram(_program, options.Count, optionPointers);
        if (result != NvrtcResult.Success)
        {
            throw new NvrtcException(result, $"nvrtcCompileProgram({Name}, {string.Join(' ', options)})", ErrorString(result), GetLogAsString());
        }
    }

    /// <summary>The compilation log (warnings, errors and, with <c>-Xptxas=-v</c>, ptxas's resource usage).</summary>
    public string GetLogAsString()
    {
        ThrowIfFailed(nvrtcGetProgramLogSize(_program, out nuint size));
        var log = new byte[size];
        fixed (byte* data = log)
        {
            ThrowIfFailed(nvrtcGetProgramLog(_program, data));
        }
        return Encoding.UTF8.GetString(log).TrimEnd('\0');
    }

    /// <summary>The PTX (NUL excluded).</summary>
    public byte[] GetPTX()
    {
        ThrowIfFailed(nvrtcGetPTXSize(_program, out nuint size));
        var ptx = new byte[size];
        fixed (byte* data = ptx)
        {
            ThrowIfFailed(nvrtcGetPTX(_program, data));
        }
        return ptx.AsSpan().TrimEnd((byte)0).ToArray();
    }

    /// <summary>The CUBIN (only after compiling for a real architecture, <c>-arch=sm_XX</c>).</summary>
    public byte[] GetCubin()
    {
        ThrowIfFailed(nvrtcGetCUBINSize(_program, out nuint size));
        var cubin = new byte[size];
        fixed (byte* data = cubin)
        {
            ThrowIfFailed(nvrtcGetCUBIN(_program, data));
        }
        return cubin;
    }

    /// <inheritdoc />
    public void Dispose() => _program.Dispose();

    /// <summary>NUL-terminated UTF-8 copies in unmanaged memory, freed together.</summary>
    private sealed class Utf8Strings : IDisposable
    {
        private readonly List<nint> _allocations = new();

        public byte* Add(string value)
        {
            nint pointer = Marshal.StringToCoTaskMemUTF8(value);
            _allocations.Add(pointer);
            return (byte*)pointer;
        }

        public void Dispose()
        {
            foreach (var pointer in _allocations)
            {
                Marshal.FreeCoTaskMem(pointer);
            }
        }
    }
}
