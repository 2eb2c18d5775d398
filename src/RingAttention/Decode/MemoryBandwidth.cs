using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace RingAttention.Decode;

/// <summary>
/// A streaming-read bandwidth probe: the physical limit of decode, which reads every cached byte once per step.
/// Threads each sum their share of a buffer larger than the caches with vector loads; the best of a few passes is
/// taken. Measure it in the same run as the decode figures it is compared with.
/// </summary>
public static class MemoryBandwidth
{
    /// <summary>Bytes per second of streaming reads over <paramref name="bytes"/> bytes with <paramref name="threads"/> threads (best of <paramref name="passes"/>).</summary>
    public static unsafe double MeasureRead(long bytes = 512L << 20, int threads = 0, int passes = 3)
    {
        Guard.AtLeast(bytes, 1 << 20);
        Guard.AtLeast(passes, 1);
        threads = threads > 0 ? threads : Environment.ProcessorCount;
        long floats = bytes / sizeof(float) / Vector256<float>.Count * Vector256<float>.Count;
        float* buffer = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
        try
        {
            for (long i = 0; i < floats; i += 1024)
            {
                buffer[i] = 1f;   // touch every page so no pass pays first-touch faults
            }
            double best = 0;
            var sink = new float[threads];
            for (int pass = 0; pass < passes; pass++)
            {
                long start = Stopwatch.GetTimestamp();
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, part =>
                {
                    long share = floats / threads / Vector256<float>.Count * Vector256<float>.Count;
                    long from = part * share, to = part == threads - 1 ? floats : from + share;
                    var a = Vector256<float>.Zero;
                    var b = Vector256<float>.Zero;
                    long i = from;
                    for (; i + 2 * Vector256<float>.Count <= to; i += 2 * Vector256<float>.Count)
                    {
                        a += Vector256.Load(buffer + i);
                        b += Vector256.Load(buffer + i + Vector256<float>.Count);
                    }
                    for (; i < to; i++)
                    {
                        a += Vector256.CreateScalar(buffer[i]);
                    }
                    sink[part] = Vector256.Sum(a + b);
                });
                best = Math.Max(best, floats * sizeof(float) / Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
            GC.KeepAlive(sink);
            return best;
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }
}
