using RingAttention.Kernels;

namespace RingAttention.Cuda.Diagnostics;

/// <summary>One benchmark point: a single forward kernel call over the full sequence (one rank, P = 1).</summary>
/// <param name="HeadDim">Head dimension.</param>
/// <param name="SequenceLength">N (queries and keys).</param>
/// <param name="Causal">Causal mask.</param>
/// <param name="Batch">Batch size.</param>
/// <param name="Heads">Query heads (as many KV heads).</param>
/// <param name="Kernel">The variant that ran.</param>
/// <param name="Milliseconds">Median device time of one call.</param>
/// <param name="Tflops">4·B·N²·H·D (halved when causal) per second, in TFLOP/s.</param>
public sealed record BenchmarkPoint(int HeadDim, int SequenceLength, bool Causal, int Batch, int Heads, string Kernel, double Milliseconds, double Tflops);

/// <summary>
/// Forward-kernel throughput on the GPU, FlashAttention's benchmark convention: B = max(1, 16384 / N) sequences of
/// H = 2048 / D heads, bf16, FLOPs = 4·B·N²·H·D (halved when causal), device time from events, median of repeats.
/// </summary>
public static class KernelBenchmark
{
    /// <summary>
    /// Dense fp16/bf16 tensor-core peak with fp32 accumulation (SMs × clock × FLOP per clock per SM) for the
    /// architectures whose per-SM rate is unambiguous: sm_80 (A100, 2048) and sm_90 (H100, 4096, reached only by
    /// wgmma; mma.sync kernels such as this one top out well below it). Null elsewhere.
    /// </summary>
    public static double? PeakTflops(CudaDeviceProperties device)
    {
        int? perSm = device.ComputeCapability switch
        {
            (8, 0) => 2048,
            (9, 0) => 4096,
            _ => null,
        };
        return perSm is null ? null : (double)perSm * device.Multiprocessors * device.ClockKHz * 1e3 / 1e12;
    }

    /// <summary>Measures every (head dim, N, causal) point.</summary>
    public static IEnumerable<BenchmarkPoint> Run(CudaBackend backend, IReadOnlyList<int> headDims, IReadOnlyList<int> lengths, int repeats = 5)
    {
        foreach (int d in headDims)
        {
            foreach (int n in lengths)
            {
                foreach (bool causal in new[] { false, true })
                {
                    yield return Measure(backend, d, n, causal, repeats);
                }
            }
        }
    }

    private static BenchmarkPoint Measure(CudaBackend backend, int d, int n, bool causal, int repeats)
    {
        int batch = Math.Max(1, 16384 / n), heads = Math.Max(1, 2048 / d);
        long elements = (long)batch * n * heads * d;
        using var q = backend.Allocate(elements * 2);
        using var k = backend.Allocate(elements * 2);
        using var v = backend.Allocate(elements * 2);
        using var accumulator = backend.Allocate(elements * 4);
        using var rowMax = backend.Allocate((long)batch * heads * n * 4);
        using var rowSum = backend.Allocate((long)batch * heads * n * 4);
        var random = new Random(1);
        var bytes = new byte[elements * 2];
        var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan());
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = ((BFloat16)(float)(random.NextDouble() * 2 - 1)).Bits;
        }
        foreach (var buffer in new[] { q, k, v })
        {
            backend.Upload(bytes, buffer);
        }

        var options = new AttentionOptions { Batch = batch, Heads = heads, HeadDim = d, Causal = causal, ElementType = ElementType.BFloat16 };
        var args = FlashForwardParams.ForContiguousTensors(options, n, n, q.Address, k.Address, v.Address, accumulator.Address, rowMax.Address, rowSum.Address);
        var times = new List<double>();
        for (int i = 0; i <= repeats; i++)
        {
            backend.Fill(accumulator, 0, elements, 0f);
            backend.Fill(rowMax, 0, (long)batch * heads * n, float.NegativeInfinity);
            backend.Fill(rowSum, 0, (long)batch * heads * n, 0f);
            using var start = backend.Mark();
            backend.Forward(args);
            using var end = backend.Mark();
            backend.Synchronize();
            if (i > 0)
            {
                times.Add(end.SecondsSince(start));
            }
        }
        double seconds = times.Order().ElementAt(times.Count / 2);
        double flops = 4.0 * batch * n * (double)n * heads * d * (causal ? 0.5 : 1.0);
        return new BenchmarkPoint(d, n, causal, batch, heads, backend.VariantFor(args).Name, seconds * 1e3, flops / seconds / 1e12);
    }
}
