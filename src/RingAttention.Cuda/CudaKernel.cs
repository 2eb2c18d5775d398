using RingAttention.Cuda.Native;
using static RingAttention.Cuda.Native.NativeCuda;

namespace RingAttention.Cuda;

/// <summary>Grid or block dimensions of a launch.</summary>
/// <param name="X">First dimension.</param>
/// <param name="Y">Second dimension.</param>
/// <param name="Z">Third dimension.</param>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    /// <summary>X·Y·Z.</summary>
    public long Count => (long)X * Y * Z;
}

/// <summary>
/// A kernel of a loaded module (as ManagedCuda's <c>CudaKernel</c>), launched with one by-value argument: the
/// kernels here take their parameter struct (<c>FlashFwdParams</c>, <c>FlashFinalizeParams</c>) by value.
/// </summary>
public sealed unsafe class CudaKernel : IDisposable
{
    private readonly CudaContext _context;
    private readonly CudaModuleHandle _module;
    private readonly nint _function;
    private int _maxDynamicSharedMemory = 48 * 1024;

    internal CudaKernel(CudaContext context, CudaModuleHandle module, nint function, string name)
    {
        _context = context;
        _module = module;
        _function = function;
        Name = name;
        Registers = Attribute(FunctionAttributeNumRegs);
        LocalBytes = Attribute(FunctionAttributeLocalSizeBytes);
    }

    /// <summary>The kernel's name in its module.</summary>
    public string Name { get; }

    /// <summary>Registers per thread.</summary>
    public int Registers { get; }

    /// <summary>Local memory per thread in bytes (spills live there).</summary>
    public int LocalBytes { get; }

    /// <summary>
    /// Raises the dynamic shared memory a launch may use (CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES): needed
    /// above 48 KB.
    /// </summary>
    public void SetMaxDynamicSharedMemory(int bytes)
    {
        if (bytes <= _maxDynamicSharedMemory)
        {
            return;
        }
        _context.SetCurrent();
        ThrowIfFailed(cuFuncSetAttribute(_function, FunctionAttributeMaxDynamicSharedSizeBytes, bytes));
        _maxDynamicSharedMemory = bytes;
    }

    /// <summary>Enqueues the kernel on <paramref name="stream"/> with <paramref name="argument"/> as its only parameter (copied at launch).</summary>
    public void Launch<T>(CudaStream stream, Dim3 grid, Dim3 block, int sharedMemoryBytes, in T argument) where T : unmanaged
    {
        SetMaxDynamicSharedMemory(sharedMemoryBytes);
        _context.SetCurrent();
        T copy = argument;
        void* parameter = &copy;
        ThrowIfFailed(cuLaunchKernel(_function, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, (uint)sharedMemoryBytes, stream.Stream, &parameter, null));
    }

    /// <inheritdoc />
    public void Dispose() => _module.Dispose();

    private int Attribute(int attribute)
    {
        _context.SetCurrent();
        ThrowIfFailed(cuFuncGetAttribute(out int value, attribute, _function));
        return value;
    }
}
