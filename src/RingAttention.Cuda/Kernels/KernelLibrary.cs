namespace RingAttention.Cuda.Kernels;

/// <summary>The kernels loaded into one context, compiled (or read from the cache) the first time each is needed.</summary>
internal sealed class KernelLibrary : IDisposable
{
    private readonly CudaContext _context;
    private readonly KernelCache _cache;
    private readonly Dictionary<KernelVariant, CudaKernel> _loaded = new();
    private readonly Lock _sync = new();

    public KernelLibrary(CudaContext context, KernelCache cache)
    {
        _context = context;
        _cache = cache;
        NvrtcVersion = CudaRuntimeCompiler.Version();
        var (major, minor) = context.Device.ComputeCapability;
        Target = CompileTarget.For(major * 10 + minor, CudaRuntimeCompiler.SupportedArchitectures());
    }

    /// <summary>NVRTC's version (part of the cache key).</summary>
    public (int Major, int Minor) NvrtcVersion { get; }

    /// <summary>What the kernels are compiled for.</summary>
    public CompileTarget Target { get; }

    public CudaKernel Get(KernelVariant variant)
    {
        lock (_sync)
        {
            if (!_loaded.TryGetValue(variant, out var kernel))
            {
                kernel = _context.LoadKernel(_cache.GetOrCompile(variant, Target, NvrtcVersion), variant.EntryPoint);
                _loaded[variant] = kernel;
            }
            return kernel;
        }
    }

    public void Dispose()
    {
        foreach (var kernel in _loaded.Values)
        {
            kernel.Dispose();
        }
        _loaded.Clear();
    }
}
