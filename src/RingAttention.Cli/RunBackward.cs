using System.Diagnostics;
using System.Runtime.InteropServices;
using RingAttention.Inputs;
using RingAttention.IO;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Reference;
using RingAttention.Ring;

namespace RingAttention.Cli;

/// <summary>What <c>ringattn run --backward</c> did, as printed by the root.</summary>
/// <param name="WallSeconds">Backward wall time (the slowest process), from the first post to the last cast.</param>
/// <param name="Gflops">Backward FLOPs (10·B·N²·H·D, halved when causal) per wall second, in 10⁹.</param>
/// <param name="FlopFormula">How the FLOPs were counted.</param>
/// <param name="MaxBytesSent">Most bytes one rank sent (K, V and the fp32 dK/dV accumulators).</param>
/// <param name="MaxExposedSeconds">Most exchange time one rank spent waiting (not hidden behind compute).</param>
/// <param name="MaxBytesHeld">Most bytes one rank held (its tensors, gradients, receive buffers and fp32 state).</param>
/// <param name="QueryGrad">dQ on the sampled query rows against the exact float64 reference.</param>
/// <param name="KeyGrad">dK on the sampled key rows against the float64 reference.</param>
/// <param name="ValueGrad">dV on the sampled key rows against the float64 reference.</param>
/// <param name="Tolerance">The largest of the three tensors' tolerances (the option plus one storage ulp of the largest reference value).</param>
/// <param name="Verified">All three were checked and are within their tolerances.</param>
/// <param name="Passed">Verified, or nothing was checked (--verify-rows 0): the gradients may be written and the run succeeds.</param>
internal sealed record BackwardSummary(double WallSeconds, double Gflops, string FlopFormula, long MaxBytesSent, double MaxExposedSeconds,
    long MaxBytesHeld, VerificationResult QueryGrad, VerificationResult KeyGrad, VerificationResult ValueGrad, double Tolerance, bool Verified, bool Passed)
{
    /// <summary>0 when <see cref="Passed"/>, else the verification-failed code.</summary>
    public int ExitCode => Passed ? ExitCodes.Ok : ExitCodes.VerificationFailed;

    /// <summary>The line about written gradient files, or why they were not written; null when none were asked for.</summary>
    public string? Written { get; init; }

    /// <summary>Seconds spent on the float64 gradient verification (the slowest process), not part of <see cref="WallSeconds"/>.</summary>
    public double VerifySeconds { get; init; }
}

/// <summary>
/// <c>ringattn run --backward</c>: after the forward, dO in (the counter-based generator or --dout), the backward
/// around the ring over the forward's ranks (their O and LSE), then dQ verified on sampled query rows against the
/// exact float64 streaming reference, and dK, dV on sampled key rows against the float64 reference that takes the
/// forward's stored fp32 LSE and stored O for the query rows (see <see cref="StreamingGradientReference64"/>): each
/// rank adds its query rows' contributions, rank 0 gathers and sums them. Nothing of size N×N is held anywhere.
/// </summary>
internal static class RunBackward
{
    /// <summary>dO's generator seed is the run's seed mixed with this, so dO is not Q's values again.</summary>
    private const ulong OutputGradSeedMix = 0x9E3779B97F4A7C15UL;

    /// <summary>Checks the backward options before anything starts: they need --backward, and outputs are new, distinct files.</summary>
    public static void Check(RunOptions run)
    {
        if (run.Backward && run.Backend == BackendKind.Cuda)
        {
            throw new InvalidInputException("--backward",
                "--backward: the backward pass runs on the CPU backend only; the CUDA backward kernels (preprocess, main, convert) are not written yet (use --backend cpu).");
        }
        var gradientOptions = new[] { ("--dout", run.OutputGradFile), ("--dq-out", run.QueryGradOutputFile), ("--dk-out", run.KeyGradOutputFile),
            ("--dv-out", run.ValueGradOutputFile) };
        foreach (var (option, path) in gradientOptions.Where(o => o.Item2 is not null))
        {
            if (!run.Backward)
            {
                throw new InvalidInputException(option, $"{option}: belongs to the backward pass, but --backward was not given.");
            }
        }
        var outputs = gradientOptions.Skip(1).Concat([("--out", run.OutputFile), ("--lse-out", run.LseOutputFile)])
            .Where(o => o.Item2 is not null).Select(o => (Option: o.Item1, Path: o.Item2!)).ToArray();
        var inputs = new[] { ("--q", run.QueryFile), ("--k", run.KeyFile), ("--v", run.ValueFile), ("--input", run.InputFile), ("--dout", run.OutputGradFile) }
            .Where(i => i.Item2 is not null).Select(i => (Option: i.Item1, Path: i.Item2!)).ToArray();
        for (int i = 0; i < outputs.Length; i++)
        {
            var (option, path) = outputs[i];
            if (option is "--out" or "--lse-out")
            {
                continue;
            }
            TensorFiles.CheckWritableTarget(path);
            foreach (var other in inputs.Concat(outputs.Take(i)).Where(other => FileIdentity.Same(path, other.Path)))
            {
                throw new InvalidInputException(option, $"{option}: expected a file of its own, actual {TerminalText.Escape(path)}, which is also {other.Option}.");
            }
        }
    }

    /// <summary>Runs the backward over <paramref name="ranks"/> (after their forward), verifies, writes the gradients when verified.</summary>
    public static BackwardSummary Execute(RunOptions run, IJobHost host, IAttentionBackend backend, JobDescription job, IReadOnlyList<RingRank> ranks,
        ITensorSource source, double tolerance)
    {
        var (options, layout) = (job.Attention, job.Layout);
        using var fileGrad = OpenOutputGradFile(run, options);
        ITensorSource outputGrad = fileGrad is not null ? fileGrad : new CounterRandomSource(run.Seed ^ OutputGradSeedMix, options, run.SequenceLength);
        var gradients = new RankGradients[ranks.Count];
        try
        {
            for (int i = 0; i < ranks.Count; i++)
            {
                gradients[i] = RankGradients.Allocate(backend, options, ranks[i].LocalLength);
                ShardLoader.LoadOutputGradient(outputGrad, options, layout, ranks[i].Rank, backend, gradients[i].DO);
            }

            long start = Stopwatch.GetTimestamp();
            var reports = RingDriver.Run(ranks.Select((rank, i) => (IRingPass)rank.BeginBackward(gradients[i])).ToArray());
            double wall = host.MaxOverProcesses(Stopwatch.GetElapsedTime(start).TotalSeconds);

            long verifyStart = Stopwatch.GetTimestamp();
            var samples = Verification.SampleRows(options.Batch, run.SequenceLength, run.VerifyRows);
            var queryGrad = Global(host, ranks.Select((rank, i) => CheckQueryRows(options, layout, source, outputGrad, backend, rank, gradients[i], samples))
                .Aggregate(VerificationResult.None, (a, b) => a.Combine(b)), samples.Count);
            var (keyLocal, valueLocal) = CheckKeyRows(options, layout, source, outputGrad, backend, host, ranks, gradients, samples);
            var keyGrad = Global(host, keyLocal, samples.Count);
            var valueGrad = Global(host, valueLocal, samples.Count);

            double verifySeconds = host.MaxOverProcesses(Stopwatch.GetElapsedTime(verifyStart).TotalSeconds);
            var verdicts = new[] { queryGrad, keyGrad, valueGrad }.Select(r => Verdict.Of(r, tolerance, options.ElementType)).ToArray();
            bool verified = verdicts.All(v => v.Verified);
            bool passed = verified || verdicts.All(v => !v.Checked);
            string? written = passed || run.WriteOnFail
                ? WriteOutputs(run, host, backend, job, ranks, gradients)
                : new[] { run.QueryGradOutputFile, run.KeyGradOutputFile, run.ValueGradOutputFile }.All(p => p is null) ? null
                : "gradients not written: verification failed, files at --dq-out/--dk-out/--dv-out are untouched (--write-on-fail writes them anyway)";
            double flops = 2.5 * job.ForwardFlops;
            return new BackwardSummary(wall, flops / wall / 1e9, options.Causal ? "10·B·N²·H·D/2" : "10·B·N²·H·D",
                (long)host.MaxOverProcesses(reports.Select(r => r.BytesSent).DefaultIfEmpty(0).Max()),
                host.MaxOverProcesses(reports.Select(r => r.WaitSeconds).DefaultIfEmpty(0).Max()),
                (long)host.MaxOverProcesses(reports.Select(r => r.BytesHeld).DefaultIfEmpty(0).Max()),
                queryGrad, keyGrad, valueGrad, verdicts.Max(v => v.OutputTolerance), verified, passed)
            {
                Written = written,
                VerifySeconds = verifySeconds,
            };
        }
        finally
        {
            foreach (var gradient in gradients)
            {
                gradient?.Dispose();
            }
        }
    }

    /// <summary>dO from --dout: a .npy file, or the tensor 'do' of a .safetensors file, checked against the run's shape and dtype.</summary>
    private static FileTensorSource? OpenOutputGradFile(RunOptions run, AttentionOptions options)
    {
        if (run.OutputGradFile is not { } path)
        {
            return null;
        }
        var file = TensorFiles.FormatOf(path) == TensorFileFormat.Npy
            ? FileTensorSource.OpenNpy(path, path, path, run.InputLayout)
            : FileTensorSource.OpenSafetensors(path, run.InputLayout, "do", "do", "do");
        var expected = (options.Batch, run.SequenceLength, options.Heads, options.HeadDim, options.ElementType);
        var actual = (file.Batch, file.SequenceLength, file.Heads, file.HeadDim, file.ElementType);
        if (expected != actual)
        {
            file.Dispose();
            throw new InvalidInputException("--dout",
                $"--dout: expected (batch, seq, heads, head_dim, dtype) = {expected} like Q, actual {actual} in {TerminalText.Escape(path)}.");
        }
        return file;
    }

    /// <summary>
    /// The worst of every process's result. Every sampled row lies on exactly one rank, which checks it, so the rows
    /// checked over the job are the samples (the host offers maxima over processes, not sums).
    /// </summary>
    private static VerificationResult Global(IJobHost host, VerificationResult local, int samples) => new(
        host.MaxOverProcesses(local.Rows) > 0 ? samples : 0, host.MaxOverProcesses(local.MaxAbsError), host.MaxOverProcesses(local.MaxReference), 0);

    /// <summary>dQ of the sampled query rows this rank holds against the exact float64 reference.</summary>
    private static VerificationResult CheckQueryRows(AttentionOptions options, ISequenceLayout layout, ITensorSource source, ITensorSource outputGrad,
        IAttentionBackend backend, RingRank rank, RankGradients gradients, IReadOnlyList<(int Batch, int Position)> samples)
    {
        var mine = samples.Where(s => layout.Locate(s.Position).Rank == rank.Rank).ToList();
        if (mine.Count == 0)
        {
            return VerificationResult.None;
        }
        var reference = StreamingGradientReference64.QueryGradients(options, source, outputGrad, mine, Environment.ProcessorCount);
        int width = options.QueryRowElements;
        var result = VerificationResult.None;
        for (int s = 0; s < mine.Count; s++)
        {
            var actual = ReadRow(options, backend, gradients.DQ, ((long)mine[s].Batch * rank.LocalLength + layout.Locate(mine[s].Position).LocalIndex) * width, width);
            result = result.Combine(Compare(actual, reference[s]));
        }
        return result;
    }

    /// <summary>
    /// dK and dV of the sampled key rows: every hosted rank adds its query rows' float64 contributions and, for the
    /// sampled rows it owns, its ring result; rank 0 gathers both from every rank (in rank order) and compares the sums.
    /// Processes other than rank 0's return nothing checked.
    /// </summary>
    private static unsafe (VerificationResult Key, VerificationResult Value) CheckKeyRows(AttentionOptions options, ISequenceLayout layout,
        ITensorSource source, ITensorSource outputGrad, IAttentionBackend backend, IJobHost host, IReadOnlyList<RingRank> ranks, RankGradients[] gradients,
        IReadOnlyList<(int Batch, int Position)> samples)
    {
        int width = 2 * options.KeyRowElements, count = samples.Count * width;
        long bytes = 2L * count * sizeof(double);
        var sends = new double*[ranks.Count];
        double* gathered = null;
        try
        {
            var pending = new List<IPendingExchange>();
            for (int i = 0; i < ranks.Count; i++)
            {
                var rank = ranks[i];
                var payload = new double[2 * count];
                var partials = new double[count];
                var (storedO, storedLse) = ReadForwardOutputs(options, backend, rank);
                StreamingGradientReference64.AddKeyGradientPartials(options, source, outputGrad, layout, rank.Rank, storedO, storedLse, samples, partials,
                    Environment.ProcessorCount);
                partials.CopyTo(payload, 0);
                for (int s = 0; s < samples.Count; s++)
                {
                    var (owner, localIndex) = layout.Locate(samples[s].Position);
                    if (owner != rank.Rank)
                    {
                        continue;
                    }
                    long offset = ((long)samples[s].Batch * rank.LocalLength + localIndex) * options.KeyRowElements;
                    var key = ReadRow(options, backend, gradients[i].DK, offset, options.KeyRowElements);
                    var value = ReadRow(options, backend, gradients[i].DV, offset, options.KeyRowElements);
                    for (int c = 0; c < options.KeyRowElements; c++)
                    {
                        payload[count + s * width + c] = key[c];
                        payload[count + s * width + options.KeyRowElements + c] = value[c];
                    }
                }
                sends[i] = (double*)NativeMemory.Alloc((nuint)Math.Max(bytes, 1));
                payload.CopyTo(new Span<double>(sends[i], 2 * count));
                if (rank.Rank == 0)
                {
                    gathered = (double*)NativeMemory.Alloc((nuint)Math.Max(bytes * layout.Ranks, 1));
                }
            }
            for (int i = 0; i < ranks.Count; i++)
            {
                pending.Add(host.Transports[i].PostGather((nint)sends[i], bytes, ranks[i].Rank == 0 ? (nint)gathered : 0));
            }
            foreach (var exchange in pending)
            {
                exchange.Wait();
            }
            if (gathered is null || samples.Count == 0)
            {
                return (VerificationResult.None, VerificationResult.None);
            }
            var reference = new double[count];
            var actual = new double[count];
            for (int r = 0; r < layout.Ranks; r++)
            {
                var from = new ReadOnlySpan<double>(gathered + (long)r * 2 * count, 2 * count);
                for (int c = 0; c < count; c++)
                {
                    reference[c] += from[c];
                    actual[c] += from[count + c];
                }
            }
            var keyResult = VerificationResult.None;
            var valueResult = VerificationResult.None;
            int half = options.KeyRowElements;
            for (int s = 0; s < samples.Count; s++)
            {
                keyResult = keyResult.Combine(Compare(actual.AsSpan(s * width, half), reference.AsSpan(s * width, half)));
                valueResult = valueResult.Combine(Compare(actual.AsSpan(s * width + half, half), reference.AsSpan(s * width + half, half)));
            }
            return (keyResult, valueResult);
        }
        finally
        {
            foreach (var send in sends)
            {
                NativeMemory.Free(send);
            }
            NativeMemory.Free(gathered);
        }
    }

    /// <summary>The rank's stored O (widened to fp32) and LSE, read once for the key-row reference.</summary>
    private static unsafe (float[] O, float[] Lse) ReadForwardOutputs(AttentionOptions options, IAttentionBackend backend, RingRank rank)
    {
        long outputs = (long)options.Batch * rank.LocalLength * options.QueryRowElements;
        var o = new float[outputs];
        var lse = new float[(long)options.Batch * options.Heads * rank.LocalLength];
        long bytes = outputs * ElementTypes.SizeOf(options.ElementType);
        using (var staging = HostStaging.ForReading(backend, rank.Tensors.O, bytes))
        {
            Widen(options.ElementType, new ReadOnlySpan<byte>((void*)staging.Address, checked((int)bytes)), o);
        }
        HostStaging.Download(backend, rank.Tensors.Lse, lse.AsSpan());
        return (o, lse);
    }

    /// <summary><paramref name="width"/> elements of a storage-type tensor at element <paramref name="offset"/>, widened.</summary>
    private static unsafe double[] ReadRow(AttentionOptions options, IAttentionBackend backend, BackendBuffer buffer, long offset, int width)
    {
        int elementSize = ElementTypes.SizeOf(options.ElementType);
        var stored = new byte[width * elementSize];
        backend.Download(buffer, offset * elementSize, stored);
        var row = new float[width];
        Widen(options.ElementType, stored, row);
        return Array.ConvertAll(row, x => (double)x);
    }

    /// <summary>Stored elements of <paramref name="type"/> as fp32.</summary>
    private static void Widen(ElementType type, ReadOnlySpan<byte> stored, Span<float> row)
    {
        switch (type)
        {
            case ElementType.Float16:
                System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(stored), row);
                break;
            case ElementType.BFloat16:
                var values = MemoryMarshal.Cast<byte, BFloat16>(stored);
                for (int i = 0; i < values.Length; i++)
                {
                    row[i] = (float)values[i];
                }
                break;
            default:
                MemoryMarshal.Cast<byte, float>(stored).CopyTo(row);
                break;
        }
    }

    /// <summary>One row's max |actual − reference| (NaN anywhere in the result is an infinite error) and its largest |reference|.</summary>
    private static VerificationResult Compare(ReadOnlySpan<double> actual, ReadOnlySpan<double> reference)
    {
        double maxError = 0, maxReference = 0;
        for (int c = 0; c < actual.Length; c++)
        {
            double error = double.IsNaN(reference[c]) ? (double.IsNaN(actual[c]) ? 0 : double.PositiveInfinity)
                : double.IsNaN(actual[c]) ? double.PositiveInfinity : Math.Abs(actual[c] - reference[c]);
            maxError = Math.Max(maxError, error);
            maxReference = double.IsFinite(reference[c]) ? Math.Max(maxReference, Math.Abs(reference[c])) : maxReference;
        }
        return new VerificationResult(1, maxError, maxReference, 0);
    }

    /// <summary>Writes --dq-out, --dk-out and --dv-out (all or none, atomically as --out); returns the report line or null.</summary>
    private static string? WriteOutputs(RunOptions run, IJobHost host, IAttentionBackend backend, JobDescription job, IReadOnlyList<RingRank> ranks,
        RankGradients[] gradients)
    {
        var (options, layout) = (job.Attention, job.Layout);
        var outputs = new List<(OutputTensor Tensor, Func<RankGradients, BackendBuffer> Buffer)>();
        foreach (var (path, name, heads, buffer) in new (string?, string, int, Func<RankGradients, BackendBuffer>)[]
        {
            (run.QueryGradOutputFile, "dq", options.Heads, g => g.DQ),
            (run.KeyGradOutputFile, "dk", options.EffectiveKvHeads, g => g.DK),
            (run.ValueGradOutputFile, "dv", options.EffectiveKvHeads, g => g.DV),
        })
        {
            if (path is not null)
            {
                outputs.Add((OutputTensor.Attention(path, options.ElementType, run.InputLayout, options.Batch, layout.SequenceLength, heads, options.HeadDim, name),
                    buffer));
            }
        }
        if (outputs.Count == 0)
        {
            return null;
        }
        long start = Stopwatch.GetTimestamp();
        bool hostsRankZero = host.Transports.Any(t => t.Rank == 0);
        ShardedOutputFiles.Write(outputs.Select(o => o.Tensor).ToArray(), host.JobToken, hostsRankZero, host.AllSucceeded, writer =>
        {
            for (int i = 0; i < ranks.Count; i++)
            {
                for (int output = 0; output < outputs.Count; output++)
                {
                    var g = outputs[output].Tensor.Geometry;
                    long bytes = (long)g.Batch * layout.LocalLength(ranks[i].Rank) * g.Heads * g.HeadDim * ElementTypes.SizeOf(options.ElementType);
                    using var staging = HostStaging.ForReading(backend, outputs[output].Buffer(gradients[i]), bytes);
                    writer.WriteShard(output, layout, ranks[i].Rank, staging.Address, bytes, TensorLayout.Bshd);
                }
            }
        });
        double seconds = host.MaxOverProcesses(Stopwatch.GetElapsedTime(start).TotalSeconds);
        return "gradients " + string.Join(", ", outputs.Select(o =>
            $"{o.Tensor.Path} ({ElementTypes.ShortName(o.Tensor.ElementType)} {StoredTensor.FormatShape(o.Tensor.Shape)})")) + $"; {seconds:F3} s";
    }
}
