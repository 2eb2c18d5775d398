using System.Diagnostics;
using RingAttention.Cpu;
using RingAttention.Decode;
using RingAttention.Inputs;
using RingAttention.Layouts;

namespace RingAttention.Bench;

/// <summary>
/// The decode sweep (issue 13): for each total context N and rank count P, a zigzag-prefilled cache (filled from the
/// counter generator without the prefill forward) decoded in emulation on the CPU. Per step it records the emulated
/// wall time (the P ranks run one after another on these cores), the slowest rank's kernel and merge time (what P
/// devices in parallel would take: measured pieces, not a measured parallel run), the cache bytes that rank read and
/// their GB/s against a streaming-read probe run in the same process. For comparison it decodes the same step the
/// other way, by passing the cache around the ring (<see cref="DecodeRingPass"/>). Speed figures belong to the bench
/// owner's runs; a tiny run only shows the bench works.
/// </summary>
internal static class DecodeBench
{
    public static int Run(DecodeBenchOptions o, Action printMachine)
    {
        var contexts = o.Contexts.ToArray();
        var ranks = o.Ranks.ToArray();
        string? problem = contexts.Length == 0 || contexts.Any(c => c < 1) ? $"--contexts: expected positive lengths, actual {string.Join(',', contexts)}"
            : ranks.Length == 0 || ranks.Any(r => r < 1) ? $"--ranks: expected positive counts, actual {string.Join(',', ranks)}"
            : o.Steps < 1 ? $"--steps: expected at least 1, actual {o.Steps}"
            : o.TokensPerStep < 1 ? $"--tokens-per-step: expected at least 1, actual {o.TokensPerStep}"
            : o.Threads is < 1 ? $"--threads: expected at least 1, actual {o.Threads}"
            : null;
        if (problem is not null)
        {
            Console.Error.WriteLine(problem);
            return 2;
        }
        var options = new AttentionOptions { Heads = o.Heads, KvHeads = o.KvHeads, HeadDim = o.HeadDim, Causal = true, ElementType = o.ElementType };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        printMachine();
        double bandwidth = MemoryBandwidth.MeasureRead(512L << 20, o.Threads ?? 0);
        Console.WriteLine($"decode   {options}; T={o.TokensPerStep}; {o.Steps} timed step(s) per case; zigzag prefill, appends by blocks of 64");
        Console.WriteLine($"probe    {bandwidth / 1e9:F2} GB/s streaming read ({o.Threads ?? Environment.ProcessorCount} thread(s), same process)");
        Console.WriteLine("per-token latencies are p50 over steps; 'ranks parallel' = slowest rank's kernel + merge (measured pieces, not a parallel run);");
        Console.WriteLine("'ring' = the same step by passing every shard to one rank (copies then kernels; 'overlapped' assumes each copy hides behind the previous kernel)");
        Console.WriteLine($"{"N",9} {"P",3} {"emulated ms",12} {"ranks par. ms",14} {"kernel ms/step",14} {"merge ms/step",13} {"MiB/rank",9} {"GB/s",7} {"% probe",8} {"ring ms",9} {"ring ovl ms",12} {"ring/merge",11}");
        foreach (int context in contexts)
        {
            foreach (int p in ranks)
            {
                var result = o.ElementType switch
                {
                    ElementType.Float16 => RunCase<Half>(options, o, context, p),
                    ElementType.BFloat16 => RunCase<BFloat16>(options, o, context, p),
                    _ => RunCase<float>(options, o, context, p),
                };
                double parallel = result.KernelSeconds + result.MergeSeconds;
                double gbps = result.BytesPerRank / result.KernelSeconds / 1e9;
                string ring = result.Ring is { } r ? $"{r.SerialSeconds * 1e3 / o.TokensPerStep,9:F3} {r.OverlappedSeconds * 1e3 / o.TokensPerStep,12:F3} {r.OverlappedSeconds / parallel,10:F1}x" : $"{"-",9} {"-",12} {"-",11}";
                Console.WriteLine($"{context,9} {p,3} {result.WallSeconds * 1e3 / o.TokensPerStep,12:F3} {parallel * 1e3 / o.TokensPerStep,14:F3} {result.KernelSeconds * 1e3,14:F3} {result.MergeSeconds * 1e3,13:F3} " +
                    $"{result.BytesPerRank / (double)(1 << 20),9:F1} {gbps,7:F2} {100 * gbps * 1e9 / bandwidth,7:F0}% {ring}");
                if (result.Ring is { MaxLseDifference: > 1e-3 } mismatch)
                {
                    Console.Error.WriteLine($"ring decoding disagrees with the merge by {mismatch.MaxLseDifference:E2} in LSE at N={context}, P={p}");
                    return 1;
                }
            }
        }
        return 0;
    }

    private sealed record CaseResult(double WallSeconds, double KernelSeconds, double MergeSeconds, long BytesPerRank, RingFigures? Ring);

    /// <summary>Ring decoding's p50 step times and its largest LSE difference from the merge over the timed steps.</summary>
    private sealed record RingFigures(double SerialSeconds, double OverlappedSeconds, double MaxLseDifference);

    private static CaseResult RunCase<T>(AttentionOptions options, DecodeBenchOptions o, int context, int ranks) where T : unmanaged
    {
        int tokens = o.TokensPerStep, steps = o.Steps;
        var source = new CounterRandomSource(1, options, context + (steps + 1) * tokens);
        var layout = SequenceLayouts.Create(LayoutKind.Zigzag, context, ranks);
        using var decode = new EmulatedDecode(options, ranks, new DecodeCacheOptions { Threads = o.Threads, Headroom = (steps + 1) * tokens });
        foreach (var session in decode.Sessions)
        {
            session.LoadPrefill<T>(layout, Shard<T>(source, options, layout, session.Rank, QkvTensor.K), Shard<T>(source, options, layout, session.Rank, QkvTensor.V));
        }
        using var ring = o.NoRing ? null : new DecodeRingPass(options, o.Threads);
        var wall = new List<double>();
        var kernel = new List<double>();
        var merge = new List<double>();
        var serial = new List<double>();
        var overlapped = new List<double>();
        double lseDifference = 0;
        long bytes = 0;
        for (int step = 0; step <= steps; step++)
        {
            int first = context + step * tokens;
            var q = Rows<T>(source, QkvTensor.Q, options.QueryRowElements, first, tokens);
            var k = Rows<T>(source, QkvTensor.K, options.KeyRowElements, first, tokens);
            var v = Rows<T>(source, QkvTensor.V, options.KeyRowElements, first, tokens);
            var outO = new T[q.Length];
            var outLse = new float[options.Heads * tokens];
            long start = Stopwatch.GetTimestamp();
            var reports = decode.Step<T>(q, k, v, outO, outLse);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var passed = ring?.Step(decode.Sessions.Select(s => s.Cache).ToArray(), Widen(q), Enumerable.Range(first, tokens).ToArray());
            if (step == 0)
            {
                continue;   // warm-up: first touches, kernel threads starting
            }
            wall.Add(seconds);
            kernel.Add(reports.Max(r => r.KernelSeconds));
            merge.Add(reports.Max(r => r.MergeSeconds));
            bytes = reports.Max(r => r.CacheBytesRead);
            if (passed is not null)
            {
                serial.Add(passed.SerialSeconds);
                overlapped.Add(passed.OverlappedSeconds);
                // The ring's LSE is [T, heads]; the merge's [heads, T] (batch 1).
                for (int t = 0; t < tokens; t++)
                {
                    for (int h = 0; h < options.Heads; h++)
                    {
                        lseDifference = Math.Max(lseDifference, Math.Abs(passed.Lse[t * options.Heads + h] - outLse[h * tokens + t]));
                    }
                }
            }
        }
        var ringResult = ring is null ? null : new RingFigures(Median(serial), Median(overlapped), lseDifference);
        return new CaseResult(Median(wall), Median(kernel), Median(merge), bytes, ringResult);
    }

    private static double Median(List<double> values) => values.Count == 0 ? double.NaN : values.Order().ElementAt((values.Count - 1) / 2);

    /// <summary>A rank's layout shard of K or V from the generator, [1, local, kvHeads, headDim].</summary>
    private static T[] Shard<T>(ITensorSource source, AttentionOptions options, ISequenceLayout layout, int rank, QkvTensor tensor) where T : unmanaged
    {
        int width = options.KeyRowElements;
        var positions = layout.Segments(rank).SelectMany(s => Enumerable.Range(0, s.Count).Select(s.GlobalAt)).ToArray();
        var shard = new T[(long)positions.Length * width];
        Parallel.For(0, positions.Length, index =>
        {
            Span<float> row = stackalloc float[width];
            source.ReadRow(tensor, 0, positions[index], row);
            Narrow(row, shard.AsSpan(index * width, width));
        });
        return shard;
    }

    private static T[] Rows<T>(ITensorSource source, QkvTensor tensor, int width, int first, int count) where T : unmanaged
    {
        var rows = new T[count * width];
        var row = new float[width];
        for (int t = 0; t < count; t++)
        {
            source.ReadRow(tensor, 0, first + t, row);
            Narrow(row, rows.AsSpan(t * width, width));
        }
        return rows;
    }

    private static void Narrow<T>(ReadOnlySpan<float> row, Span<T> target) where T : unmanaged
    {
        for (int i = 0; i < row.Length; i++)
        {
            target[i] = typeof(T) == typeof(Half) ? (T)(object)(Half)row[i]
                : typeof(T) == typeof(BFloat16) ? (T)(object)(BFloat16)row[i]
                : (T)(object)row[i];
        }
    }

    private static float[] Widen<T>(T[] values) where T : unmanaged =>
        values.Select(value => value switch
        {
            Half h => (float)h,
            BFloat16 b => (float)b,
            float f => f,
            _ => throw new ArgumentOutOfRangeException(nameof(values), typeof(T).Name, "expected float, Half or BFloat16"),
        }).ToArray();
}
