using System.Diagnostics;
using RingAttention.IO;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Cli;

/// <summary>
/// Writes O (--out) and LSE (--lse-out) after the forward pass: every process writes the rows of the ranks it hosts
/// into full-size temporary files, and the files replace the targets only once the host agrees every process
/// succeeded (<see cref="IJobHost.AllSucceeded"/>), so a failed job never leaves a partial file.
/// </summary>
internal static class OutputFiles
{
    /// <summary>
    /// Checks the targets before any work: known extensions, existing folders, two different files, and no output
    /// that is one of the inputs (by resolved path or by file identity, so symlinks and hard links count).
    /// </summary>
    public static void Check(RunOptions run)
    {
        var outputs = new[] { ("--out", run.OutputFile), ("--lse-out", run.LseOutputFile) }.Where(o => o.Item2 is not null).Select(o => (Option: o.Item1, Path: o.Item2!)).ToArray();
        var inputs = new[] { ("--q", run.QueryFile), ("--k", run.KeyFile), ("--v", run.ValueFile), ("--input", run.InputFile) }
            .Where(i => i.Item2 is not null).Select(i => (Option: i.Item1, Path: i.Item2!)).ToArray();
        foreach (var (option, path) in outputs)
        {
            TensorFiles.CheckWritableTarget(path);
            foreach (var input in inputs.Where(input => FileIdentity.Same(path, input.Path)))
            {
                throw new InvalidInputException(option,
                    $"{option}: expected a file other than the inputs, actual {TerminalText.Escape(path)}, which is {input.Option} {TerminalText.Escape(input.Path)} (the run would replace its own input).");
            }
        }
        if (outputs.Length == 2 && FileIdentity.Same(outputs[0].Path, outputs[1].Path))
        {
            throw new InvalidInputException("--lse-out", $"--lse-out: expected a file other than --out, actual the same file {TerminalText.Escape(run.LseOutputFile!)}.");
        }
    }

    /// <summary>Writes the requested outputs; returns a line for the report, or null when none were requested.</summary>
    public static string? Write(RunOptions run, IJobHost host, IAttentionBackend backend, JobDescription job, IReadOnlyList<RingRank> ranks)
    {
        var (options, layout) = (job.Attention, job.Layout);
        var outputs = new List<(OutputTensor Tensor, TensorLayout ShardLayout, Func<RankTensors, BackendBuffer> Buffer)>();
        if (run.OutputFile is not null)
        {
            outputs.Add((OutputTensor.Attention(run.OutputFile, options.ElementType, run.InputLayout, options.Batch, layout.SequenceLength, options.Heads, options.HeadDim),
                TensorLayout.Bshd, t => t.O));
        }
        if (run.LseOutputFile is not null)
        {
            outputs.Add((OutputTensor.LogSumExp(run.LseOutputFile, options.Batch, layout.SequenceLength, options.Heads), TensorLayout.Bhsd, t => t.Lse));
        }
        if (outputs.Count == 0)
        {
            return null;
        }
        long start = Stopwatch.GetTimestamp();
        bool hostsRankZero = host.Transports.Any(t => t.Rank == 0);
        ShardedOutputFiles.Write(outputs.Select(o => o.Tensor).ToArray(), host.JobToken, hostsRankZero, host.AllSucceeded, writer =>
        {
            foreach (var rank in ranks)
            {
                for (int i = 0; i < outputs.Count; i++)
                {
                    WriteShard(writer, i, backend, outputs[i].Buffer(rank.Tensors), layout, rank.Rank, outputs[i].ShardLayout, outputs[i].Tensor);
                }
            }
        });
        double seconds = host.MaxOverProcesses(Stopwatch.GetElapsedTime(start).TotalSeconds);
        return "output    " + string.Join(", ", outputs.Select(o =>
            $"{o.Tensor.Path} ({ElementTypes.ShortName(o.Tensor.ElementType)} {StoredTensor.FormatShape(o.Tensor.Shape)})")) + $"; {seconds:F3} s";
    }

    private static void WriteShard(ShardWriter writer, int output, IAttentionBackend backend, BackendBuffer buffer, ISequenceLayout layout, int rank,
        TensorLayout shardLayout, OutputTensor tensor)
    {
        var g = tensor.Geometry;
        long bytes = (long)g.Batch * layout.LocalLength(rank) * g.Heads * g.HeadDim * ElementTypes.SizeOf(tensor.ElementType);
        // Device memory: one host copy of this rank's shard (O(N/P)); host memory: the buffer itself.
        using var staging = HostStaging.ForReading(backend, buffer, bytes);
        writer.WriteShard(output, layout, rank, staging.Address, bytes, shardLayout);
    }
}
