using RingAttention.Cuda.Decode;
using RingAttention.Cuda.Kernels;
using RingAttention.Decode;
using RingAttention.Kernels;
using RingAttention.Ring;
using static RingAttention.Cuda.Native.NativeCuda;

namespace RingAttention.Cuda;

/// <summary>
/// The CUDA backend: device memory, the run-time compiled kernels of <c>kernels/</c>, and one compute stream on
/// which every call is enqueued in order (Upload and Download wait for it). P virtual ranks share it in emulation,
/// their K/V exchanges done by <see cref="CudaCopyRing"/> on a second stream; one rank per GPU, the NCCL ring uses
/// such a second stream too (<see cref="ExchangeStream"/>). Its clock records events on the compute stream.
/// </summary>
public sealed unsafe class CudaBackend : IAttentionBackend, IBackendClock
{
    private readonly CudaContext _context;
    private readonly CudaStream _compute;
    private readonly KernelLibrary _kernels;

    private CudaBackend(int device, KernelCache cache)
    {
        _context = new CudaContext(device);
        try
        {
            var (major, minor) = _context.Device.ComputeCapability;
            if (major * 10 + minor < CudaAvailability.MinimumArchitecture)
            {
                throw new CudaUnavailableException($"{_context.Device.Name} is sm_{major}{minor}; the kernels need sm_{CudaAvailability.MinimumArchitecture} or newer");
            }
            _compute = new CudaStream(_context);
            _kernels = new KernelLibrary(_context, cache);
            VariantDevice = DeviceLimits.Of(_context.Device);
        }
        catch
        {
            _context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens device <paramref name="device"/>; throws <see cref="CudaUnavailableException"/> at once, with the reason,
    /// when this machine has no usable driver, device or NVRTC.
    /// </summary>
    public static CudaBackend Create(int device = 0, KernelCache? cache = null)
    {
        string? problem = CudaAvailability.Problem(device);
        if (problem is not null)
        {
            throw new CudaUnavailableException(problem);
        }
        return new CudaBackend(device, cache ?? new KernelCache());
    }

    /// <summary>The device's context.</summary>
    public CudaContext Context => _context;

    /// <summary>The stream every call is enqueued on.</summary>
    public CudaStream ComputeStream => _compute;

    /// <summary>What the kernels are compiled for (sm_XX, or compute_XX PTX on a GPU newer than NVRTC).</summary>
    public CompileTarget Target => _kernels.Target;

    /// <inheritdoc />
    public string Name => "cuda";

    /// <inheritdoc />
    public string Description
    {
        get
        {
            var d = _context.Device;
            var (major, minor) = _kernels.NvrtcVersion;
            return $"CUDA device {_context.DeviceId}: {d.Name} ({d.Architecture}, {d.Multiprocessors} SMs, {d.TotalMemory / (1024.0 * 1024 * 1024):F0} GiB), kernels {Target} via NVRTC {major}.{minor}";
        }
    }

    /// <inheritdoc />
    public bool IsHostMemory => false;

    /// <summary>The kernel a forward call runs (for reports and tests).</summary>
    internal KernelVariant VariantFor(in FlashForwardParams args) => KernelVariant.ForForward(args, VariantDevice, out _);

    /// <summary>
    /// The device whose tile choices the tensor-core variants follow: this device's own limits, unless a test sets
    /// another's so one (software) GPU runs the variants every targeted device would choose.
    /// </summary>
    internal DeviceLimits VariantDevice { get; set; }

    /// <summary>Compiles (or loads from the cache) every kernel this backend can launch, so timed runs never compile.</summary>
    public void Warm()
    {
        foreach (var variant in KernelVariant.All(VariantDevice))
        {
            _kernels.Get(variant);
        }
    }

    /// <inheritdoc />
    public BackendBuffer Allocate(long bytes) => new CudaBuffer(new CudaDeviceVariable<byte>(_context, bytes));

    /// <inheritdoc />
    public void Upload(ReadOnlySpan<byte> source, BackendBuffer destination, long offset = 0)
    {
        CheckRange(destination, offset, source.Length);
        if (source.IsEmpty)
        {
            return;  // an empty span pins to a null pointer, which the driver need not accept even for 0 bytes
        }
        _context.SetCurrent();
        fixed (byte* data = source)
        {
            ThrowIfFailed(cuMemcpyHtoDAsync_v2((ulong)(destination.Address + (nint)offset), data, (nuint)source.Length, _compute.Stream));
            _compute.Synchronize();
        }
    }

    /// <inheritdoc />
    public void Download(BackendBuffer source, long offset, Span<byte> destination)
    {
        CheckRange(source, offset, destination.Length);
        if (destination.IsEmpty)
        {
            return;
        }
        _context.SetCurrent();
        fixed (byte* data = destination)
        {
            ThrowIfFailed(cuMemcpyDtoHAsync_v2(data, (ulong)(source.Address + (nint)offset), (nuint)destination.Length, _compute.Stream));
            _compute.Synchronize();
        }
    }

    /// <inheritdoc />
    public void Fill(BackendBuffer buffer, long offset, long count, float value)
    {
        CheckRange(buffer, offset, count * sizeof(float));
        Guard.That(offset % sizeof(float) == 0, nameof(offset), "a multiple of 4 bytes", offset);
        if (count == 0)
        {
            return;
        }
        _context.SetCurrent();
        ThrowIfFailed(cuMemsetD32Async((ulong)(buffer.Address + (nint)offset), BitConverter.SingleToUInt32Bits(value), (nuint)count, _compute.Stream));
    }

    void IAttentionBackend.Forward(in FlashForwardParams args) => Forward(args);

    void IAttentionBackend.FinishRows(in FlashFinalizeParams args) => FinishRows(args);

    /// <inheritdoc cref="IAttentionBackend.Forward"/>
    internal void Forward(in FlashForwardParams args)
    {
        ForwardArguments.Validate(args);
        if (args.SeqLenQ == 0 || args.SeqLenK == 0)
        {
            return;
        }
        var variant = VariantFor(args);
        var geometry = LaunchGeometry.Forward(variant, args);
        _kernels.Get(variant).Launch(_compute, geometry.Grid, geometry.Block, geometry.SharedBytes, args);
    }

    /// <inheritdoc cref="IAttentionBackend.FinishRows"/>
    internal void FinishRows(in FlashFinalizeParams args)
    {
        ForwardArguments.Validate(args);
        if (args.SeqLenQ == 0)
        {
            return;
        }
        var geometry = LaunchGeometry.Finalize(args);
        _kernels.Get(KernelVariant.Finalize()).Launch(_compute, geometry.Grid, geometry.Block, geometry.SharedBytes, args);
    }

    void IAttentionBackend.BackwardPreprocess(in FlashBackwardParams args) => throw BackwardMissing("the preprocess kernel (D = rowsum(dO ∘ O))");

    void IAttentionBackend.Backward(in FlashBackwardParams args) => throw BackwardMissing("the backward block kernel");

    void IAttentionBackend.AddFloats(nint destination, nint source, long count) => throw BackwardMissing("the fp32 accumulator add");

    void IAttentionBackend.Narrow(nint source, nint destination, long count, ElementType type) => throw BackwardMissing("the convert kernel");

    /// <summary>The backward's CUDA kernels are not written yet (issue 12): say which piece, and what runs instead.</summary>
    private static InvalidInputException BackwardMissing(string piece) =>
        new("backend", $"backend cuda: the backward pass is not implemented on CUDA yet ({piece} and the other backward kernels do not exist); " +
            "run the backward on the CPU backend (--backend cpu)");

    /// <summary>The decode kernel keeps the rank's cache in device memory and writes its partial there (<see cref="CudaDecodeKernel"/>).</summary>
    IDecodeKernel IAttentionBackend.CreateDecodeKernel(int? threads) => new CudaDecodeKernel(this);

    /// <summary>Enqueues <paramref name="variant"/> on the compute stream with <paramref name="args"/> (checked by the caller).</summary>
    internal void Launch<T>(KernelVariant variant, LaunchGeometry geometry, in T args) where T : unmanaged =>
        _kernels.Get(variant).Launch(_compute, geometry.Grid, geometry.Block, geometry.SharedBytes, args);

    /// <inheritdoc />
    public void Synchronize() => _compute.Synchronize();

    /// <inheritdoc />
    public IBackendClock Clock => this;

    /// <inheritdoc />
    public IClockMark Mark() => new CudaMark(_compute);

    /// <inheritdoc />
    public IRingTransport[] CreateEmulatedRing(int size) => CudaCopyRing.Create(this, size);

    /// <inheritdoc />
    public void Dispose()
    {
        _kernels.Dispose();
        _compute.Dispose();
        _context.Dispose();
    }

    private static void CheckRange(BackendBuffer buffer, long offset, long bytes)
    {
        if (offset < 0 || bytes < 0 || offset + bytes > buffer.Bytes)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"offset: expected the range [{offset}, {offset + bytes}) inside the buffer of {buffer.Bytes} bytes, actual outside");
        }
    }
}
