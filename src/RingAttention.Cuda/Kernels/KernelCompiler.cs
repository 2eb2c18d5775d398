namespace RingAttention.Cuda.Kernels;

/// <summary>What NVRTC compiles for: a real architecture (CUBIN, sm_XX) or a virtual one (PTX the driver JIT-compiles).</summary>
/// <param name="Architecture">Compute capability as major·10 + minor, e.g. 90.</param>
/// <param name="Cubin">True: -arch=sm_XX and a CUBIN; false: -arch=compute_XX and PTX.</param>
public readonly record struct CompileTarget(int Architecture, bool Cubin)
{
    /// <summary>The NVRTC option.</summary>
    public string Option => Cubin ? $"-arch=sm_{Architecture}" : $"-arch=compute_{Architecture}";

    /// <inheritdoc />
    public override string ToString() => Cubin ? $"sm_{Architecture}" : $"compute_{Architecture}";

    /// <summary>
    /// The device's own architecture when NVRTC knows it (CUBIN); otherwise the newest NVRTC knows below it, as PTX
    /// the driver compiles forward (a GPU newer than the installed NVRTC).
    /// </summary>
    public static CompileTarget For(int deviceArchitecture, IReadOnlyCollection<int> supported)
    {
        if (supported.Contains(deviceArchitecture))
        {
            return new CompileTarget(deviceArchitecture, Cubin: true);
        }
        var older = supported.Where(a => a <= deviceArchitecture).ToArray();
        if (older.Length == 0)
        {
            throw new NotSupportedException($"NVRTC supports {string.Join(", ", supported.Select(a => "sm_" + a))}, none at or below the device's sm_{deviceArchitecture}");
        }
        return new CompileTarget(older.Max(), Cubin: false);
    }
}

/// <summary>A compiled kernel image with NVRTC's log.</summary>
/// <param name="Image">CUBIN or PTX bytes.</param>
/// <param name="IsCubin">Whether <see cref="Image"/> is a CUBIN.</param>
/// <param name="Log">NVRTC's log (with ptxas's report when compiled verbose for a CUBIN).</param>
public sealed record CompiledKernel(byte[] Image, bool IsCubin, string Log)
{
    /// <summary>ptxas's registers and spills, when the log has them.</summary>
    public PtxasReport? Report => PtxasReport.Parse(Log);
}

/// <summary>Compiles <see cref="KernelVariant"/>s from the embedded sources with NVRTC.</summary>
public static class KernelCompiler
{
    /// <summary>The NVRTC options for <paramref name="variant"/> (part of the cache key).</summary>
    public static IReadOnlyList<string> Options(KernelVariant variant, CompileTarget target, bool verbose)
    {
        var options = new List<string> { "-std=c++17", target.Option };
        options.AddRange(variant.Defines.Select(d => $"-D{d.Name}={d.Value}"));
        if (verbose && target.Cubin)
        {
            options.Add("--ptxas-options=-v");
        }
        return options;
    }

    /// <summary>Compiles <paramref name="variant"/>; an <see cref="Native.NvrtcException"/> carries the log on failure.</summary>
    public static CompiledKernel Compile(KernelVariant variant, CompileTarget target, bool verbose = false)
    {
        using var program = new CudaRuntimeCompiler(KernelSources.Get(variant.SourceFile), variant.SourceFile, KernelSources.Headers);
        program.Compile(Options(variant, target, verbose));
        string log = program.GetLogAsString();
        return target.Cubin ? new CompiledKernel(program.GetCubin(), true, log) : new CompiledKernel(program.GetPTX(), false, log);
    }
}
