using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RingAttention.Cuda.Native;

/// <summary>
/// The CUDA driver API (<c>libcuda.so.1</c>). Entry points that were revised are imported under their exported
/// <c>_v2</c> names. Device pointers are <see cref="ulong"/> (CUdeviceptr); contexts, streams, events, modules and
/// functions are opaque pointers.
/// </summary>
internal static unsafe partial class NativeCuda
{
    static NativeCuda() => NativeLibraries.EnsureResolver();

    public const int DeviceAttributeClockRate = 13;
    public const int DeviceAttributeMultiprocessorCount = 16;
    public const int DeviceAttributeMemoryClockRate = 36;
    public const int DeviceAttributeGlobalMemoryBusWidth = 37;
    public const int DeviceAttributeComputeCapabilityMajor = 75;
    public const int DeviceAttributeComputeCapabilityMinor = 76;
    public const int DeviceAttributeMaxSharedMemoryPerBlockOptin = 97;
    public const int FunctionAttributeNumRegs = 4;
    public const int FunctionAttributeLocalSizeBytes = 3;
    public const int FunctionAttributeMaxDynamicSharedSizeBytes = 8;
    public const uint StreamNonBlocking = 1;
    public const uint EventDefault = 0;
    public const uint EventDisableTiming = 2;

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuInit(uint flags);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuDriverGetVersion(out int version);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuDeviceGetCount(out int count);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuDeviceGet(out int device, int ordinal);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuDeviceGetName(byte* name, int length, int device);

    /// <summary>The device's 16-byte UUID; the _v2 form (CUDA 11.4+) tells MIG instances apart.</summary>
    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuDeviceGetUuid_v2(byte* uuid, int device);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuDeviceGetUuid(byte* uuid, int device);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuDeviceGetAttribute(out int value, int attribute, int device);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuDeviceTotalMem_v2(out nuint bytes, int device);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuDevicePrimaryCtxRetain(out nint context, int device);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuDevicePrimaryCtxRelease_v2(int device);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuCtxSetCurrent(nint context);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuCtxSynchronize();

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuMemGetInfo_v2(out nuint free, out nuint total);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuMemAlloc_v2(out ulong devicePointer, nuint bytes);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuMemFree_v2(ulong devicePointer);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuMemsetD32_v2(ulong destination, uint value, nuint count);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuMemsetD32Async(ulong destination, uint value, nuint count, nint stream);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuMemcpyHtoD_v2(ulong destination, void* source, nuint bytes);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuMemcpyDtoH_v2(void* destination, ulong source, nuint bytes);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuMemcpyDtoD_v2(ulong destination, ulong source, nuint bytes);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuMemcpyHtoDAsync_v2(ulong destination, void* source, nuint bytes, nint stream);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuMemcpyDtoHAsync_v2(void* destination, ulong source, nuint bytes, nint stream);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuMemcpyDtoDAsync_v2(ulong destination, ulong source, nuint bytes, nint stream);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuStreamCreate(out nint stream, uint flags);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuStreamDestroy_v2(nint stream);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuStreamSynchronize(nint stream);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuStreamWaitEvent(nint stream, nint cudaEvent, uint flags);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuEventCreate(out nint cudaEvent, uint flags);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuEventDestroy_v2(nint cudaEvent);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuEventRecord(nint cudaEvent, nint stream);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuEventSynchronize(nint cudaEvent);

    /// <summary>CUDA_SUCCESS when the event's work completed, CUDA_ERROR_NOT_READY while it has not.</summary>
    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuEventQuery(nint cudaEvent);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuEventElapsedTime(out float milliseconds, nint start, nint end);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuModuleLoadData(out nint module, void* image);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuModuleUnload(nint module);

    [LibraryImport(NativeLibraries.CudaImportName, StringMarshalling = StringMarshalling.Utf8)]
    public static partial CudaResult cuModuleGetFunction(out nint function, nint module, string name);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuFuncSetAttribute(nint function, int attribute, int value);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuFuncGetAttribute(out int value, int attribute, nint function);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuLaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedMemoryBytes, nint stream, void** kernelParameters, void** extra);

    // const char** out-parameters owned by the driver: read as pointers (REFERENCE.md).
    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuGetErrorName(CudaResult error, out nint name);

    [LibraryImport(NativeLibraries.CudaImportName)]
    public static partial CudaResult cuGetErrorString(CudaResult error, out nint text);

    /// <summary>Throws a <see cref="CudaException"/> naming <paramref name="call"/> unless <paramref name="result"/> is success.</summary>
    public static void ThrowIfFailed(CudaResult result, [CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result != CudaResult.Success)
        {
            throw new CudaException(result, call, Describe(result));
        }
    }

    /// <summary>The driver's name and text for <paramref name="result"/> (e.g. "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected").</summary>
    public static string Describe(CudaResult result)
    {
        string? name = cuGetErrorName(result, out nint namePointer) == CudaResult.Success ? Marshal.PtrToStringUTF8(namePointer) : null;
        string? text = cuGetErrorString(result, out nint textPointer) == CudaResult.Success ? Marshal.PtrToStringUTF8(textPointer) : null;
        return (name, text) switch
        {
            (null, null) => $"unknown CUresult {(int)result}",
            (_, null) => name!,
            (null, _) => text!,
            _ => $"{name}: {text}",
        };
    }
}
