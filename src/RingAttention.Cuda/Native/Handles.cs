using System.Runtime.InteropServices;

namespace RingAttention.Cuda.Native;

/// <summary>
/// A driver object that lives in a context: released with that context made current on the releasing thread (the
/// finalizer thread included), and keeping the context alive until then.
/// </summary>
internal abstract class ContextBoundHandle : SafeHandle
{
    private readonly PrimaryContextHandle _context;

    protected ContextBoundHandle(PrimaryContextHandle context, nint handle) : base(0, ownsHandle: true)
    {
        bool added = false;
        context.DangerousAddRef(ref added);
        _context = context;
        SetHandle(handle);
    }

    public override bool IsInvalid => handle == 0;

    protected sealed override bool ReleaseHandle()
    {
        bool released = NativeCuda.cuCtxSetCurrent(_context.DangerousGetHandle()) == CudaResult.Success && Release(handle);
        _context.DangerousRelease();
        return released;
    }

    /// <summary>Frees the object; the context is current.</summary>
    protected abstract bool Release(nint value);
}

/// <summary>A retained primary context; releasing it releases the device's primary context once.</summary>
internal sealed class PrimaryContextHandle : SafeHandle
{
    public PrimaryContextHandle(nint context, int device) : base(0, ownsHandle: true)
    {
        Device = device;
        SetHandle(context);
    }

    public int Device { get; }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => NativeCuda.cuDevicePrimaryCtxRelease_v2(Device) == CudaResult.Success;
}

/// <summary>Device memory from cuMemAlloc (the handle is the CUdeviceptr).</summary>
internal sealed class DeviceMemoryHandle(PrimaryContextHandle context, ulong pointer) : ContextBoundHandle(context, (nint)pointer)
{
    protected override bool Release(nint value) => NativeCuda.cuMemFree_v2((ulong)value) == CudaResult.Success;
}

/// <summary>A CUstream.</summary>
internal sealed class StreamHandle(PrimaryContextHandle context, nint stream) : ContextBoundHandle(context, stream)
{
    protected override bool Release(nint value) => NativeCuda.cuStreamDestroy_v2(value) == CudaResult.Success;
}

/// <summary>A CUevent.</summary>
internal sealed class EventHandle(PrimaryContextHandle context, nint cudaEvent) : ContextBoundHandle(context, cudaEvent)
{
    protected override bool Release(nint value) => NativeCuda.cuEventDestroy_v2(value) == CudaResult.Success;
}

/// <summary>A loaded CUmodule.</summary>
internal sealed class CudaModuleHandle(PrimaryContextHandle context, nint module) : ContextBoundHandle(context, module)
{
    protected override bool Release(nint value) => NativeCuda.cuModuleUnload(value) == CudaResult.Success;
}

/// <summary>An nvrtcProgram.</summary>
internal sealed class NvrtcProgramHandle : SafeHandle
{
    public NvrtcProgramHandle() : base(0, ownsHandle: true)
    {
    }

    public NvrtcProgramHandle(nint program) : this() => SetHandle(program);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        nint program = handle;
        return NativeNvrtc.nvrtcDestroyProgram(ref program) == NvrtcResult.Success;
    }
}
