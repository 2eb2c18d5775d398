using System.Runtime.InteropServices;
using RingAttention.Kernels;
using RingAttention.Ring;

namespace RingAttention.Cpu;

/// <summary>
/// The CPU backend: host memory and the multi-threaded SIMD block kernels (forward, and the backward's
/// <see cref="CpuFlashBackwardKernel"/>, created on the first backward call so a forward-only caller starts no extra
/// workers). One backend is one device: calls from several emulated ranks run one at a time, each using all
/// <see cref="Threads"/> threads.
/// </summary>
public sealed unsafe class CpuBackend : IAttentionBackend
{
    private readonly CpuFlashKernel _kernel;
    private readonly Lock _device = new();
    private CpuFlashBackwardKernel? _backwardKernel;

    /// <summary>Creates a backend using <paramref name="threads"/> threads (default: all cores) and the given or widest SIMD tier.</summary>
    public CpuBackend(int? threads = null, SimdTier? tier = null)
    {
        int threadCount = threads ?? Environment.ProcessorCount;
        Guard.InRange(threadCount, 1, 4096, nameof(threads));
        _kernel = new CpuFlashKernel(threadCount, tier ?? SimdTiers.Best);
    }

    /// <summary>Threads each kernel call uses.</summary>
    public int Threads => _kernel.Threads;

    /// <summary>The SIMD tier in use.</summary>
    public SimdTier Tier => _kernel.Tier;

    /// <inheritdoc />
    public string Name => "cpu";

    /// <inheritdoc />
    public string Description => $"CPU, {Threads} thread(s), {Tier} ({(int)Tier / 32} fp32 lanes)";

    /// <inheritdoc />
    public bool IsHostMemory => true;

    /// <inheritdoc />
    public IBackendClock Clock => HostClock.Instance;

    /// <inheritdoc />
    public IRingTransport[] CreateEmulatedRing(int size) => InProcessRing.Create(size);

    /// <inheritdoc />
    public BackendBuffer Allocate(long bytes) => HostBuffer.Allocate(bytes);

    /// <inheritdoc />
    public void Upload(ReadOnlySpan<byte> source, BackendBuffer destination, long offset = 0)
    {
        CheckRange(destination, offset, source.Length);
        source.CopyTo(new Span<byte>((byte*)destination.Address + offset, source.Length));
    }

    /// <inheritdoc />
    public void Download(BackendBuffer source, long offset, Span<byte> destination)
    {
        CheckRange(source, offset, destination.Length);
        new ReadOnlySpan<byte>((byte*)source.Address + offset, destination.Length).CopyTo(destination);
    }

    /// <inheritdoc />
    public void Fill(BackendBuffer buffer, long offset, long count, float value)
    {
        CheckRange(buffer, offset, count * sizeof(float));
        float* start = (float*)((byte*)buffer.Address + offset);
        for (long done = 0; done < count; done += int.MaxValue)
        {
            new Span<float>(start + done, (int)Math.Min(int.MaxValue, count - done)).Fill(value);
        }
    }

    void IAttentionBackend.Forward(in FlashForwardParams args) => Forward(args);

    void IAttentionBackend.FinishRows(in FlashFinalizeParams args) => FinishRows(args);

    /// <inheritdoc cref="IAttentionBackend.Forward"/>
    internal void Forward(in FlashForwardParams args)
    {
        lock (_device)
        {
            _kernel.Forward(args);
        }
    }

    /// <inheritdoc cref="IAttentionBackend.FinishRows"/>
    internal void FinishRows(in FlashFinalizeParams args)
    {
        var p = args;
        var type = (ElementType)p.ElementType;
        int elementSize = ElementTypes.SizeOf(type);
        lock (_device)
        {
            Parallel.For(0, p.Batch * p.SeqLenQ, new ParallelOptions { MaxDegreeOfParallelism = Threads }, item =>
            {
                int b = item / p.SeqLenQ, row = item % p.SeqLenQ;
                Span<float> normalised = stackalloc float[p.HeadDim];
                for (int head = 0; head < p.Heads; head++)
                {
                    long stat = ((long)b * p.Heads + head) * p.SeqLenQ + row;
                    long element = (((long)b * p.SeqLenQ + row) * p.Heads + head) * p.HeadDim;
                    float sum = ((float*)p.RowSum)[stat];
                    var accumulated = new ReadOnlySpan<float>((float*)p.OAccum + element, p.HeadDim);
                    if (sum == 0f)
                    {
                        normalised.Clear();
                        ((float*)p.Lse)[stat] = float.NegativeInfinity;
                    }
                    else
                    {
                        System.Numerics.Tensors.TensorPrimitives.Divide(accumulated, sum, normalised);
                        ((float*)p.Lse)[stat] = (float)(((float*)p.RowMax)[stat] * Math.Log(2.0) + Math.Log(sum));
                    }
                    StorageConversion.Narrow(normalised, type, (byte*)p.O + element * elementSize);
                }
            });
        }
    }

    void IAttentionBackend.BackwardPreprocess(in FlashBackwardParams args)
    {
        lock (_device)
        {
            BackwardKernel.Preprocess(args);
        }
    }

    void IAttentionBackend.Backward(in FlashBackwardParams args)
    {
        lock (_device)
        {
            BackwardKernel.Backward(args);
        }
    }

    void IAttentionBackend.AddFloats(nint destination, nint source, long count)
    {
        Guard.AtLeast(count, 0);
        lock (_device)
        {
            for (long done = 0; done < count; done += int.MaxValue)
            {
                int length = (int)Math.Min(int.MaxValue, count - done);
                var target = new Span<float>((float*)destination + done, length);
                System.Numerics.Tensors.TensorPrimitives.Add(target, new ReadOnlySpan<float>((float*)source + done, length), target);
            }
        }
    }

    void IAttentionBackend.Narrow(nint source, nint destination, long count, ElementType type)
    {
        Guard.AtLeast(count, 0);
        Guard.That(Enum.IsDefined(type), nameof(type), "Float32, Float16 or BFloat16", type);
        if (type == ElementType.Float32 && source == destination)
        {
            return;
        }
        int elementSize = ElementTypes.SizeOf(type);
        lock (_device)
        {
            for (long done = 0; done < count; done += int.MaxValue)
            {
                int length = (int)Math.Min(int.MaxValue, count - done);
                StorageConversion.Narrow(new ReadOnlySpan<float>((float*)source + done, length), type, (byte*)destination + done * elementSize);
            }
        }
    }

    /// <summary>The backward kernel, created on first use with the forward's threads and SIMD tier (callers hold the device lock).</summary>
    private CpuFlashBackwardKernel BackwardKernel => _backwardKernel ??= new CpuFlashBackwardKernel(Threads, Tier);

    /// <inheritdoc />
    public void Synchronize()
    {
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _kernel.Dispose();
        _backwardKernel?.Dispose();
    }

    private static void CheckRange(BackendBuffer buffer, long offset, long bytes)
    {
        if (offset < 0 || bytes < 0 || offset + bytes > buffer.Bytes)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"range [{offset}, {offset + bytes}) is outside the buffer of {buffer.Bytes} bytes");
        }
    }
}
