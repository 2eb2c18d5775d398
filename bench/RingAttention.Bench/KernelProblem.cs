using System.Diagnostics;
using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Kernels;

namespace RingAttention.Bench;

/// <summary>
/// One block-kernel call over a whole sequence (a single rank's view: all N queries against all N keys), with
/// unit-variance random inputs in the storage type. <see cref="Time"/> resets the running state and times one
/// forward call; the finalize step is not part of the kernel figure.
/// </summary>
internal sealed unsafe class KernelProblem : IDisposable
{
    private readonly HostBuffer _q, _k, _v, _accumulator, _rowMax, _rowSum;
    private readonly FlashForwardParams _params;

    public KernelProblem(AttentionOptions options, int n, ulong seed = 1)
    {
        options.Validate();
        Options = options;
        N = n;
        long queryElements = (long)options.Batch * n * options.QueryRowElements;
        long keyElements = (long)options.Batch * n * options.KeyRowElements;
        _q = RandomBuffer(queryElements, options.ElementType, seed);
        _k = RandomBuffer(keyElements, options.ElementType, seed + 1);
        _v = RandomBuffer(keyElements, options.ElementType, seed + 2);
        _accumulator = HostBuffer.Allocate(queryElements * sizeof(float));
        _rowMax = HostBuffer.Allocate((long)options.Batch * options.Heads * n * sizeof(float));
        _rowSum = HostBuffer.Allocate((long)options.Batch * options.Heads * n * sizeof(float));
        _params = FlashForwardParams.ForContiguousTensors(options, n, n,
            _q.Address, _k.Address, _v.Address, _accumulator.Address, _rowMax.Address, _rowSum.Address);
    }

    /// <summary>
    /// <paramref name="elements"/> values in <paramref name="type"/>, uniform on [-√3, √3] (unit variance, like the CLI's
    /// normal inputs, at a fraction of the cost), from the stream <paramref name="stream"/>.
    /// </summary>
    public static HostBuffer RandomBuffer(long elements, ElementType type, ulong stream)
    {
        int elementSize = ElementTypes.SizeOf(type);
        var buffer = HostBuffer.Allocate(elements * elementSize);
        var random = new Random((int)(stream * 7919));
        const int chunk = 1 << 16;
        var values = new float[chunk];
        for (long done = 0; done < elements; done += chunk)
        {
            int count = (int)Math.Min(chunk, elements - done);
            for (int i = 0; i < count; i++)
            {
                values[i] = (random.NextSingle() * 2f - 1f) * 1.7320508f;
            }
            StorageConversion.Narrow(values.AsSpan(0, count), type, (byte*)buffer.Address + done * elementSize);
        }
        return buffer;
    }

    public AttentionOptions Options { get; }

    public int N { get; }

    /// <summary>FLOPs of the call (4·B·N²·H·D, halved when causal).</summary>
    public double Flops => Options.ForwardFlops(N);

    /// <summary>
    /// Resets the running state, then times one forward call on <paramref name="backend"/>: wall seconds and the
    /// process's CPU seconds over the call (about threads × wall when nothing else competes for the cores).
    /// </summary>
    public (double Seconds, double CpuSeconds) Time(CpuBackend backend)
    {
        long rows = (long)Options.Batch * Options.Heads * N;
        backend.Fill(_accumulator, 0, _accumulator.Bytes / sizeof(float), 0f);
        backend.Fill(_rowMax, 0, rows, float.NegativeInfinity);
        backend.Fill(_rowSum, 0, rows, 0f);
        var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();
        backend.Forward(_params);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return (seconds, (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds);
    }

    public void Dispose()
    {
        foreach (var buffer in new[] { _q, _k, _v, _accumulator, _rowMax, _rowSum })
        {
            buffer.Dispose();
        }
    }
}
