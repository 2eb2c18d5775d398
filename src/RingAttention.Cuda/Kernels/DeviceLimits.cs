namespace RingAttention.Cuda.Kernels;

/// <summary>
/// What the tensor-core tile choice depends on (<see cref="KernelSpecs.TensorCoreTiles"/>): the device's compute
/// capability (ptxas allocates registers per architecture, so a tile shape that spills on one may fit on another) and
/// the shared memory one block may opt in to.
/// </summary>
/// <param name="Architecture">Compute capability as major·10 + minor, e.g. 90.</param>
/// <param name="MaxSharedBytes">Dynamic shared memory one block may opt in to, in bytes.</param>
public readonly record struct DeviceLimits(int Architecture, int MaxSharedBytes)
{
    /// <summary>sm_80 (A100): 163 KB of shared memory per block.</summary>
    public static readonly DeviceLimits Sm80 = new(80, 166912);

    /// <summary>sm_86 (and sm_89, which chooses the same tiles): 99 KB per block.</summary>
    public static readonly DeviceLimits Sm86 = new(86, 101376);

    /// <summary>sm_90 (H100): 227 KB per block.</summary>
    public static readonly DeviceLimits Sm90 = new(90, 232448);

    /// <summary>The devices whose variants CI compiles (registers and spills) and runs on the software GPU.</summary>
    public static IReadOnlyList<DeviceLimits> Targeted { get; } = [Sm80, Sm86, Sm90];

    /// <summary>The limits of <paramref name="device"/>.</summary>
    public static DeviceLimits Of(CudaDeviceProperties device) =>
        new(device.ComputeCapability.Major * 10 + device.ComputeCapability.Minor, device.MaxSharedMemoryPerBlock);

    /// <inheritdoc />
    public override string ToString() => $"sm_{Architecture} ({MaxSharedBytes / 1024} KB shared per block)";
}
