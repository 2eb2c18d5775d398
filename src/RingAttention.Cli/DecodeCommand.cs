using System.Diagnostics;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text.Json;
using RingAttention.Decode;
using RingAttention.Inputs;
using RingAttention.Layouts;
using RingAttention.Reference;

namespace RingAttention.Cli;

/// <summary>
/// <c>ringattn decode</c>: prefills a prompt from the counter generator around the ring, then runs decode steps
/// against the KV cache each rank keeps, verifies the steps against a float64 reference over the whole cache, and
/// reports latency, kernel-versus-merge time and the cache bytes each rank streams against a bandwidth probe run in
/// the same job. Emulation or one rank per process under MPI; the CPU backend, or CUDA (--backend cuda: the split-KV
/// kernel on the GPU over a device copy of each rank's cache, the merge's all-reduce on device memory: the copy ring
/// in emulation, NCCL under MPI). The bandwidth probe reads host memory, so its ratio is reported for the CPU only.
/// </summary>
internal static class DecodeCommand
{
    private const double DefaultTolerance = 1e-4;

    public static int Execute(DecodeOptions decode, GivenArguments given)
    {
        OptionCheck.That(decode.Ranks >= 1, "--ranks", "at least 1", decode.Ranks);
        OptionCheck.That(decode.Context >= 1, "--context", "at least 1", decode.Context);
        OptionCheck.That(decode.Steps >= 1, "--steps", "at least 1", decode.Steps);
        OptionCheck.That(decode.TokensPerStep >= 1, "--tokens-per-step", "at least 1", decode.TokensPerStep);
        OptionCheck.That((long)decode.Context + (long)decode.Steps * decode.TokensPerStep <= int.MaxValue, "--steps", $"context + steps × tokens-per-step at most {int.MaxValue}", decode.Steps);
        OptionCheck.That(decode.BlockSize >= 1, "--block-size", "at least 1", decode.BlockSize);
        OptionCheck.That(decode.MaxCacheTokens is null or >= 1, "--max-cache-tokens", "at least 1", decode.MaxCacheTokens);
        OptionCheck.That(decode.VerifySteps is null or >= 0, "--verify-steps", "at least 0", decode.VerifySteps);
        OptionCheck.That(decode.Threads is null or >= 1, "--threads", "at least 1", decode.Threads);
        OptionCheck.That(decode.Tolerance is null or > 0, "--tolerance", "a positive number", decode.Tolerance);
        var options = ToAttentionOptions(decode);
        return decode.ElementType switch
        {
            ElementType.Float16 => Execute<Half>(decode, options, given),
            ElementType.BFloat16 => Execute<BFloat16>(decode, options, given),
            _ => Execute<float>(decode, options, given),
        };
    }

    private static int Execute<T>(DecodeOptions decode, AttentionOptions options, GivenArguments given) where T : unmanaged
    {
        // The job hosts (emulation, MPI) are shared with `run`; they need only where ranks live and on what.
        var hostOptions = new RunOptions
        {
            Ranks = decode.Ranks, Threads = decode.Threads, Transport = decode.Transport, ExchangeTimeout = decode.ExchangeTimeout,
            Backend = decode.Backend, Device = decode.Device, Given = given, SequenceLength = decode.Context, Batch = decode.Batch, Heads = decode.Heads, KvHeads = decode.KvHeads,
            HeadDim = decode.HeadDim, ElementType = decode.ElementType, Seed = decode.Seed, Layout = decode.Layout,
        };
        RunOptionChecks.Check(hostOptions);
        using var host = JobHosts.Create(hostOptions);
        int ranks = host.RingSize;
        int steps = decode.Steps, tokens = decode.TokensPerStep, batch = options.Batch;
        var layout = SequenceLayouts.Create(decode.Layout, decode.Context, ranks);
        var source = new CounterRandomSource(decode.Seed, options, decode.Context + steps * tokens);
        // Every rank knows every rank's final cache length (layout plus placement): a limit too small fails here, on all ranks.
        var placement = new AppendPlacement(ranks, decode.BlockSize, decode.Context);
        int largest = Enumerable.Range(0, ranks).Max(r => layout.LocalLength(r) + placement.AppendedOn(r, steps * tokens));
        OptionCheck.That(decode.MaxCacheTokens is null || decode.MaxCacheTokens >= largest, "--max-cache-tokens",
            $"at least {largest} (the largest rank's prefill shard plus its appended tokens)", decode.MaxCacheTokens);
        var cacheOptions = new DecodeCacheOptions { BlockSize = decode.BlockSize, MaxTokensPerRank = decode.MaxCacheTokens, Threads = decode.Threads };

        // Every process probes at once: under MPI the ranks of a node share its memory bus, as they do when decoding.
        // A GPU's caches live in device memory, which this host probe does not measure.
        bool onHost = host.Backend.IsHostMemory;
        double bandwidth = onHost ? MemoryBandwidth.MeasureRead(256L << 20, decode.Threads ?? 0) : double.NaN;
        var sessions = host.Transports.Select(transport => new DecodeSession(options, transport, cacheOptions, host.Backend)).ToList();
        try
        {
            long prefillStart = Stopwatch.GetTimestamp();
            if (decode.CacheOnly)
            {
                foreach (var session in sessions)
                {
                    session.LoadPrefill<T>(layout, Shard<T>(source, options, layout, session.Rank, QkvTensor.K), Shard<T>(source, options, layout, session.Rank, QkvTensor.V));
                }
            }
            else
            {
                var inputs = sessions.Select(session => PrefillShards<T>(source, options, layout, session.Rank)).ToList();
                DecodeDriver.Prefill(sessions, layout, host.Backend, inputs);
                inputs.Clear();
            }
            double prefillSeconds = host.MaxOverProcesses(Stopwatch.GetElapsedTime(prefillStart).TotalSeconds);

            var outputs = new List<(T[] O, float[] Lse)>();
            var timings = new List<StepFigures>();
            for (int step = 0; step < steps; step++)
            {
                int first = decode.Context + step * tokens;
                var q = NewRows<T>(source, QkvTensor.Q, options.QueryRowElements, batch, first, tokens);
                var k = NewRows<T>(source, QkvTensor.K, options.KeyRowElements, batch, first, tokens);
                var v = NewRows<T>(source, QkvTensor.V, options.KeyRowElements, batch, first, tokens);
                var o = new T[q.Length];
                var lse = new float[batch * options.Heads * tokens];
                long start = Stopwatch.GetTimestamp();
                var reports = DecodeDriver.Step<T>(sessions, q, k, v, o, lse);
                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                outputs.Add((o, lse));
                timings.Add(new StepFigures(
                    host.MaxOverProcesses(seconds),
                    host.MaxOverProcesses(reports.Max(r => r.KernelSeconds)),
                    host.MaxOverProcesses(reports.Max(r => r.MergeSeconds)),
                    (long)host.MaxOverProcesses(reports.Max(r => r.CacheBytesRead))));
            }
            string? digest = null;
            bool ranksAgree = true;
            if (decode.Digest)
            {
                var hash = new XxHash3();
                foreach (var (o, lse) in outputs)
                {
                    hash.Append(MemoryMarshal.AsBytes(o.AsSpan()));
                    hash.Append(MemoryMarshal.AsBytes(lse.AsSpan()));
                }
                digest = Convert.ToHexStringLower(hash.GetCurrentHash());
                // 52 bits of the hash are exact in a double: equal maximum and minimum over processes mean every rank agrees.
                double mine = hash.GetCurrentHashAsUInt64() & ((1UL << 52) - 1);
                ranksAgree = host.MaxOverProcesses(mine) == -host.MaxOverProcesses(-mine);
            }
            long cacheMax = (long)host.MaxOverProcesses(sessions.Max(s => s.Cache.Bytes));
            long cacheMin = -(long)host.MaxOverProcesses(-sessions.Min(s => s.Cache.Bytes));
            long allocatedMax = (long)host.MaxOverProcesses(sessions.Max(s => s.Cache.CapacityBytes));
            if (!host.IsRoot)
            {
                return ExitCodes.Ok;
            }

            // Every rank holds the same merged output, so the root checks it; after the loop, so no rank waits on it.
            int verifySteps = Math.Min(steps, decode.VerifySteps ?? steps);
            long verifyStart = Stopwatch.GetTimestamp();
            var verification = VerificationResult.None;
            for (int step = 0; step < verifySteps; step++)
            {
                verification = verification.Combine(Verify(options, source, decode.Context + step * tokens, tokens, outputs[step].O, outputs[step].Lse));
            }
            double tolerance = decode.Tolerance ?? DefaultTolerance;
            double outputTolerance = tolerance + StorageUlp(options.ElementType) * verification.MaxReference;
            bool verified = verification.MaxAbsError <= outputTolerance && verification.MaxLseAbsError <= tolerance;
            var result = new DecodeResult(
                "ringattn " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)), options.ToString(), layout.Name, ranks,
                decode.Context, steps, tokens, decode.BlockSize, host.Description, host.Backend.Description, Environment.ProcessorCount, prefillSeconds,
                Percentile(timings.Select(t => t.Seconds), 0.5), Percentile(timings.Select(t => t.Seconds), 0.99),
                Percentile(timings.Select(t => t.KernelSeconds), 0.5), Percentile(timings.Select(t => t.MergeSeconds), 0.5),
                timings[^1].CacheBytesRead, timings[^1].CacheBytesRead / timings[^1].KernelSeconds / 1e9, bandwidth / 1e9,
                cacheMin, cacheMax, allocatedMax, verifySteps, verification, outputTolerance, verified, Stopwatch.GetElapsedTime(verifyStart).TotalSeconds,
                digest, ranksAgree);
            if (decode.Json)
            {
                Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
            }
            else
            {
                Print(result);
            }
            return (verified || verifySteps == 0) && ranksAgree ? ExitCodes.Ok : ExitCodes.VerificationFailed;
        }
        finally
        {
            foreach (var session in sessions)
            {
                session.Dispose();
            }
        }
    }

    /// <summary>A rank's prefill shards from the generator, with room for its outputs.</summary>
    private static (T[] Q, T[] K, T[] V, T[] O, float[] Lse) PrefillShards<T>(ITensorSource source, AttentionOptions options, ISequenceLayout layout, int rank)
        where T : unmanaged
    {
        int local = layout.LocalLength(rank);
        return (Shard<T>(source, options, layout, rank, QkvTensor.Q), Shard<T>(source, options, layout, rank, QkvTensor.K), Shard<T>(source, options, layout, rank, QkvTensor.V),
            new T[(long)options.Batch * local * options.QueryRowElements], new float[(long)options.Batch * options.Heads * local]);
    }

    /// <summary>A rank's layout shard of one tensor from the generator, [batch, local, width].</summary>
    private static T[] Shard<T>(ITensorSource source, AttentionOptions options, ISequenceLayout layout, int rank, QkvTensor tensor) where T : unmanaged
    {
        int local = layout.LocalLength(rank), batch = options.Batch;
        int width = tensor == QkvTensor.Q ? options.QueryRowElements : options.KeyRowElements;
        var positions = layout.Segments(rank).SelectMany(s => Enumerable.Range(0, s.Count).Select(s.GlobalAt)).ToArray();
        var shard = new T[(long)batch * local * width];
        Parallel.For(0, batch * local, index =>
        {
            var row = new float[width];
            source.ReadRow(tensor, index / local, positions[index % local], row);
            Store(row, shard.AsSpan((int)((long)index * width), width));
        });
        return shard;
    }

    /// <summary>Rows [first, first + count) of one tensor as [batch, count, width].</summary>
    private static T[] NewRows<T>(ITensorSource source, QkvTensor tensor, int width, int batch, int first, int count) where T : unmanaged
    {
        var rows = new T[batch * count * width];
        var row = new float[width];
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < count; t++)
            {
                source.ReadRow(tensor, b, first + t, row);
                Store(row, rows.AsSpan((b * count + t) * width, width));
            }
        }
        return rows;
    }

    private static void Store<T>(ReadOnlySpan<float> row, Span<T> target) where T : unmanaged
    {
        for (int i = 0; i < row.Length; i++)
        {
            target[i] = typeof(T) == typeof(Half) ? (T)(object)(Half)row[i]
                : typeof(T) == typeof(BFloat16) ? (T)(object)(BFloat16)row[i]
                : (T)(object)row[i];
        }
    }

    private static float Load<T>(T value) where T : unmanaged => value switch
    {
        Half h => (float)h,
        BFloat16 b => (float)b,
        float f => f,
        _ => throw new ArgumentOutOfRangeException(nameof(value), typeof(T).Name, "expected float, Half or BFloat16"),
    };

    /// <summary>One step's O [batch, T, heads, headDim] and LSE [batch, heads, T] against the float64 reference over the whole cache.</summary>
    private static VerificationResult Verify<T>(AttentionOptions options, ITensorSource source, int first, int tokens, T[] o, float[] lse) where T : unmanaged
    {
        int batch = options.Batch, heads = options.Heads, d = options.HeadDim;
        var rows = Enumerable.Range(0, batch).SelectMany(b => Enumerable.Range(first, tokens).Select(p => (b, p))).ToList();
        var reference = StreamingReference64.Compute(options, source, rows, Environment.ProcessorCount);
        double maxError = 0, maxReference = 0, maxLseError = 0;
        foreach (var row in reference)
        {
            int t = row.Position - first;
            for (int h = 0; h < heads; h++)
            {
                for (int c = 0; c < d; c++)
                {
                    double expected = row.O[h * d + c];
                    double actual = Load(o[((row.Batch * tokens + t) * heads + h) * d + c]);
                    maxError = Math.Max(maxError, double.IsNaN(actual) ? double.PositiveInfinity : Math.Abs(actual - expected));
                    maxReference = Math.Max(maxReference, Math.Abs(expected));
                }
                double actualLse = lse[(row.Batch * heads + h) * tokens + t];
                maxLseError = Math.Max(maxLseError, double.IsNaN(actualLse) ? double.PositiveInfinity : Math.Abs(actualLse - row.Lse[h]));
            }
        }
        return new VerificationResult(rows.Count, maxError, maxReference, maxLseError);
    }

    private static void Print(DecodeResult r)
    {
        Console.WriteLine(r.Command);
        Console.WriteLine($"problem       {r.Problem}");
        Console.WriteLine($"decode        P={r.Ranks} context={r.Context} steps={r.Steps} tokens/step={r.TokensPerStep} block={r.BlockSize} prefill layout={r.Layout}");
        Console.WriteLine($"ranks         {r.Host}; {r.Cores} core(s)");
        Console.WriteLine($"backend       {r.Backend}");
        Console.WriteLine($"prefill       {r.PrefillSeconds:F3} s");
        Console.WriteLine($"step latency  p50 {r.StepP50Seconds * 1e3:F3} ms, p99 {r.StepP99Seconds * 1e3:F3} ms (slowest rank)");
        Console.WriteLine($"  local       {r.KernelP50Seconds * 1e3:F3} ms kernel (p50, slowest rank), {r.MergeP50Seconds * 1e3:F3} ms merge");
        Console.WriteLine(double.IsNaN(r.BandwidthGBps)
            ? $"cache read    {Bytes(r.CacheBytesReadPerRank)} per rank per step (largest shard), {r.KernelGBps:F2} GB/s (device memory: no bandwidth probe to compare with)"
            : $"cache read    {Bytes(r.CacheBytesReadPerRank)} per rank per step (largest shard), {r.KernelGBps:F2} GB/s = {100 * r.KernelGBps / r.BandwidthGBps:F0}% of the {r.BandwidthGBps:F2} GB/s streaming-read probe");
        Console.WriteLine($"cache held    {Bytes(r.CacheBytesMin)} .. {Bytes(r.CacheBytesMax)} per rank ({Bytes(r.CacheBytesAllocatedMax)} allocated at most)");
        var v = r.Verification;
        Console.WriteLine(r.VerifiedSteps == 0
            ? "verification  skipped (--verify-steps 0)"
            : $"verification  {r.VerifiedSteps} step(s), {v.Rows} row(s): max |ΔO| {v.MaxAbsError:E2} (allowed {r.OutputTolerance:E2}), max |ΔLSE| {v.MaxLseAbsError:E2} in {r.VerifySeconds:F2} s: {(r.Verified ? "OK" : "FAILED")}");
        if (r.OutputDigest is not null)
        {
            Console.WriteLine($"digest        {r.OutputDigest} ({(r.RanksAgree ? "every rank got the same bytes" : "RANKS DIFFER")})");
        }
    }

    private static string Bytes(long bytes) => bytes >= 1 << 30 ? $"{bytes / (double)(1 << 30):F2} GiB" : bytes >= 1 << 20 ? $"{bytes / (double)(1 << 20):F2} MiB" : $"{bytes / 1024.0:F1} KiB";

    private static double Percentile(IEnumerable<double> values, double fraction)
    {
        var sorted = values.Order().ToArray();
        return sorted[(int)Math.Min(sorted.Length - 1, Math.Ceiling(fraction * sorted.Length) - 1)];
    }

    private static double StorageUlp(ElementType type) => type switch
    {
        ElementType.Float16 => Math.Pow(2, -10),
        ElementType.BFloat16 => Math.Pow(2, -7),
        _ => 0,
    };

    private static AttentionOptions ToAttentionOptions(DecodeOptions decode)
    {
        var options = new AttentionOptions
        {
            Batch = decode.Batch, Heads = decode.Heads, KvHeads = decode.KvHeads, HeadDim = decode.HeadDim, Causal = true, ElementType = decode.ElementType,
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            string option = e.ParamName switch
            {
                nameof(AttentionOptions.Batch) => "--batch",
                nameof(AttentionOptions.Heads) => "--heads",
                nameof(AttentionOptions.KvHeads) => "--kv-heads",
                nameof(AttentionOptions.HeadDim) => "--head-dim",
                _ => e.ParamName ?? "option",
            };
            string message = CommandRunner.PlainMessage(e);
            string prefix = e.ParamName + ":";
            throw new InvalidInputException(option, option + ":" + (message.StartsWith(prefix, StringComparison.Ordinal) ? message[prefix.Length..] : " " + message), e);
        }
        return options;
    }

    private sealed record StepFigures(double Seconds, double KernelSeconds, double MergeSeconds, long CacheBytesRead);
}

/// <summary>What <c>ringattn decode</c> reports (printed, or as JSON with --json).</summary>
internal sealed record DecodeResult(
    string Command, string Problem, string Layout, int Ranks, int Context, int Steps, int TokensPerStep, int BlockSize, string Host, string Backend, int Cores,
    double PrefillSeconds, double StepP50Seconds, double StepP99Seconds, double KernelP50Seconds, double MergeP50Seconds,
    long CacheBytesReadPerRank, double KernelGBps, double BandwidthGBps, long CacheBytesMin, long CacheBytesMax, long CacheBytesAllocatedMax,
    int VerifiedSteps, VerificationResult Verification, double OutputTolerance, bool Verified, double VerifySeconds, string? OutputDigest, bool RanksAgree);
