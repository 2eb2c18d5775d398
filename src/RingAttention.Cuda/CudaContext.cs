using System.Text;
using RingAttention.Cuda.Native;
using static RingAttention.Cuda.Native.NativeCuda;

namespace RingAttention.Cuda;

/// <summary>
/// A device's primary context (as ManagedCuda's <c>CudaContext</c>): retained on creation, released on dispose.
/// Contexts are current per thread; every operation of this library makes its context current first, so objects
/// can be used from any thread.
/// </summary>
public sealed unsafe class CudaContext : IDisposable
{
    private readonly PrimaryContextHandle _handle;

    /// <summary>Initialises the driver and retains the primary context of device <paramref name="deviceId"/>.</summary>
    public CudaContext(int deviceId = 0)
    {
        int count = GetDeviceCount();
        Guard.InRange(deviceId, 0, count - 1);
        ThrowIfFailed(cuDeviceGet(out int device, deviceId));
        ThrowIfFailed(cuDevicePrimaryCtxRetain(out nint context, device));
        _handle = new PrimaryContextHandle(context, device);
        DeviceId = deviceId;
        SetCurrent();
        Device = CudaDeviceProperties.Query(device);
    }

    /// <summary>The device ordinal.</summary>
    public int DeviceId { get; }

    /// <summary>Facts about the device.</summary>
    public CudaDeviceProperties Device { get; }

    internal PrimaryContextHandle Handle => _handle;

    /// <summary>Initialises the driver and returns the number of CUDA devices (0 when the driver reports none).</summary>
    public static int GetDeviceCount()
    {
        var init = cuInit(0);
        if (init == CudaResult.NoDevice)
        {
            return 0;
        }
        ThrowIfFailed(init);
        ThrowIfFailed(cuDeviceGetCount(out int count));
        return count;
    }

    /// <summary>
    /// The UUID of device <paramref name="deviceId"/> in nvidia-smi's form ("GPU-" and 32 hex digits in groups
    /// 8-4-4-4-12; a MIG instance has one of its own): the same in every process that sees the device, whatever
    /// ordinal CUDA_VISIBLE_DEVICES gives it there, so two processes on one GPU can be told apart from two GPUs.
    /// </summary>
    public static unsafe string DeviceUuid(int deviceId)
    {
        int count = GetDeviceCount();
        Guard.InRange(deviceId, 0, count - 1);
        ThrowIfFailed(cuDeviceGet(out int device, deviceId));
        byte* uuid = stackalloc byte[16];
        try
        {
            ThrowIfFailed(cuDeviceGetUuid_v2(uuid, device));
        }
        catch (EntryPointNotFoundException)
        {
            // Drivers older than CUDA 11.4 have only the first form.
            ThrowIfFailed(cuDeviceGetUuid(uuid, device));
        }
        string hex = Convert.ToHexStringLower(new ReadOnlySpan<byte>(uuid, 16));
        return $"GPU-{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..]}";
    }

    /// <summary>The driver's CUDA version as (major, minor), e.g. (12, 4).</summary>
    public static (int Major, int Minor) DriverVersion()
    {
        ThrowIfFailed(cuDriverGetVersion(out int version));
        return (version / 1000, version % 1000 / 10);
    }

    /// <summary>Makes this context current on the calling thread.</summary>
    public void SetCurrent() => ThrowIfFailed(cuCtxSetCurrent(_handle.DangerousGetHandle()));

    /// <summary>Waits for all work in the context.</summary>
    public void Synchronize()
    {
        SetCurrent();
        ThrowIfFailed(cuCtxSynchronize());
    }

    /// <summary>Free and total device memory in bytes.</summary>
    public (long Free, long Total) MemoryInfo()
    {
        SetCurrent();
        ThrowIfFailed(cuMemGetInfo_v2(out nuint free, out nuint total));
        return ((long)free, (long)total);
    }

    /// <summary>Loads a CUBIN or PTX image and returns its kernel <paramref name="name"/> (as ManagedCuda's <c>LoadKernel</c>).</summary>
    public CudaKernel LoadKernel(byte[] image, string name)
    {
        SetCurrent();
        // PTX must be NUL-terminated; a CUBIN is unaffected by one more byte.
        var terminated = new byte[image.Length + 1];
        image.CopyTo(terminated, 0);
        nint module;
        fixed (byte* data = terminated)
        {
            ThrowIfFailed(cuModuleLoadData(out module, data));
        }
        var moduleHandle = new CudaModuleHandle(_handle, module);
        try
        {
            ThrowIfFailed(cuModuleGetFunction(out nint function, module, name));
            return new CudaKernel(this, moduleHandle, function, name);
        }
        catch
        {
            moduleHandle.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();
}

/// <summary>Facts about a CUDA device.</summary>
/// <param name="Name">Marketing name, e.g. "NVIDIA H100 80GB HBM3".</param>
/// <param name="ComputeCapability">Major and minor compute capability, e.g. (9, 0).</param>
/// <param name="Multiprocessors">Streaming multiprocessors.</param>
/// <param name="ClockKHz">Peak SM clock in kHz.</param>
/// <param name="TotalMemory">Device memory in bytes.</param>
/// <param name="MaxSharedMemoryPerBlock">Shared memory one block may opt in to, in bytes.</param>
/// <param name="MemoryClockKHz">Peak memory clock in kHz.</param>
/// <param name="MemoryBusWidth">Memory bus width in bits.</param>
public sealed record CudaDeviceProperties(string Name, (int Major, int Minor) ComputeCapability, int Multiprocessors, int ClockKHz,
    long TotalMemory, int MaxSharedMemoryPerBlock, int MemoryClockKHz, int MemoryBusWidth)
{
    /// <summary>The architecture name NVRTC takes, e.g. "sm_90".</summary>
    public string Architecture => $"sm_{ComputeCapability.Major}{ComputeCapability.Minor}";

    internal static unsafe CudaDeviceProperties Query(int device)
    {
        byte* name = stackalloc byte[256];
        ThrowIfFailed(cuDeviceGetName(name, 256, device));
        ThrowIfFailed(cuDeviceTotalMem_v2(out nuint total, device));
        int Attribute(int attribute)
        {
            ThrowIfFailed(cuDeviceGetAttribute(out int value, attribute, device));
            return value;
        }
        return new CudaDeviceProperties(
            Encoding.UTF8.GetString(new ReadOnlySpan<byte>(name, 256)).TrimEnd('\0'),
            (Attribute(DeviceAttributeComputeCapabilityMajor), Attribute(DeviceAttributeComputeCapabilityMinor)),
            Attribute(DeviceAttributeMultiprocessorCount),
            Attribute(DeviceAttributeClockRate),
            (long)total,
            Attribute(DeviceAttributeMaxSharedMemoryPerBlockOptin),
            Attribute(DeviceAttributeMemoryClockRate),
            Attribute(DeviceAttributeGlobalMemoryBusWidth));
    }
}
