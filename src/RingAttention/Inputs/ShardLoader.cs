using RingAttention.Cpu;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Inputs;

/// <summary>Fills a rank's Q, K and V from a source, reading only the rows the layout gives that rank.</summary>
public static class ShardLoader
{
    /// <summary>Reads the rank's rows of Q, K and V into <paramref name="tensors"/> (in the backend's memory).</summary>
    public static unsafe void Load(ITensorSource source, AttentionOptions options, ISequenceLayout layout, int rank, IAttentionBackend backend, RankTensors tensors)
    {
        Guard.That(source.SequenceLength == layout.SequenceLength, nameof(source), $"a sequence of {layout.SequenceLength} tokens", source.SequenceLength);
        foreach (var (tensor, buffer, width) in new[]
                 {
                     (QkvTensor.Q, tensors.Q, options.QueryRowElements),
                     (QkvTensor.K, tensors.K, options.KeyRowElements),
                     (QkvTensor.V, tensors.V, options.KeyRowElements),
                 })
        {
            LoadTensor(source, options, layout, rank, backend, tensor, buffer, width);
        }
    }

    /// <summary>
    /// Reads the rank's rows of dO into <paramref name="outputGrad"/> (in the backend's memory): dO is the Q-shaped
    /// tensor of <paramref name="source"/> ([heads, headDim] rows), so any source of Q serves as a source of dO.
    /// </summary>
    public static void LoadOutputGradient(ITensorSource source, AttentionOptions options, ISequenceLayout layout, int rank, IAttentionBackend backend,
        BackendBuffer outputGrad)
    {
        Guard.That(source.SequenceLength == layout.SequenceLength, nameof(source), $"a sequence of {layout.SequenceLength} tokens", source.SequenceLength);
        LoadTensor(source, options, layout, rank, backend, QkvTensor.Q, outputGrad, options.QueryRowElements);
    }

    private static unsafe void LoadTensor(ITensorSource source, AttentionOptions options, ISequenceLayout layout, int rank,
        IAttentionBackend backend, QkvTensor tensor, BackendBuffer buffer, int width)
    {
        int local = layout.LocalLength(rank);
        int elementSize = ElementTypes.SizeOf(options.ElementType);
        var segments = layout.Segments(rank);
        long rowBytes = (long)width * elementSize;
        long bytes = (long)options.Batch * local * rowBytes;
        // Host backends are written in place; device backends get an upload of a host copy.
        using var staging = HostStaging.ForWriting(backend, buffer, bytes);
        byte* target = (byte*)staging.Address;
        Parallel.For(0, options.Batch * local, () => new float[width], (item, _, row) =>
        {
            int b = item / local, localRow = item % local;
            int s = 0;
            while (s + 1 < segments.Count && segments[s + 1].LocalStart <= localRow)
            {
                s++;
            }
            source.ReadRow(tensor, b, segments[s].GlobalAt(localRow - segments[s].LocalStart), row);
            StorageConversion.Narrow(row, options.ElementType, target + item * rowBytes);
            return row;
        }, _ => { });
        staging.Commit();
    }
}
