using Microsoft.Win32.SafeHandles;
using RingAttention.Layouts;

namespace RingAttention.IO;

/// <summary>
/// Writes ranks' rows into the job's (temporary, full-size) output files at the positions their sequence layout
/// gives them. Writes are positioned (pwrite), so any number of processes can write disjoint rows of the same file.
/// </summary>
public sealed unsafe class ShardWriter
{
    /// <summary>Staging for gathering a shard's rows into file order, written with one call per chunk.</summary>
    private const int ChunkBytes = 4 << 20;

    private readonly IReadOnlyList<OutputTensor> _outputs;
    private readonly SafeFileHandle[] _files;
    private readonly long[] _dataOffsets;
    private byte[] _staging = [];

    internal ShardWriter(IReadOnlyList<OutputTensor> outputs, SafeFileHandle[] files, long[] dataOffsets) =>
        (_outputs, _files, _dataOffsets) = (outputs, files, dataOffsets);

    /// <summary>
    /// Writes the rows <paramref name="rank"/> holds under <paramref name="layout"/> into output
    /// <paramref name="output"/>. <paramref name="shard"/> holds them in local row order as
    /// [batch, localLength, heads, headDim] (<see cref="TensorLayout.Bshd"/>) or [batch, heads, localLength, headDim]
    /// (<see cref="TensorLayout.Bhsd"/>), in the output's storage type.
    /// </summary>
    public void WriteShard(int output, ISequenceLayout layout, int rank, ReadOnlySpan<byte> shard, TensorLayout shardLayout)
    {
        fixed (byte* bytes = shard)
        {
            WriteShard(output, layout, rank, (nint)bytes, shard.Length, shardLayout);
        }
    }

    /// <summary>
    /// <see cref="WriteShard(int, ISequenceLayout, int, ReadOnlySpan{byte}, TensorLayout)"/> for a shard of
    /// <paramref name="shardBytes"/> bytes in host memory at <paramref name="shard"/> (shards may exceed 2 GiB).
    /// </summary>
    public void WriteShard(int output, ISequenceLayout layout, int rank, nint shard, long shardBytes, TensorLayout shardLayout)
    {
        if ((uint)output >= (uint)_outputs.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(output), $"{nameof(output)}: expected [0, {_outputs.Count}), actual {output}.");
        }
        var target = _outputs[output];
        var file = target.Geometry;
        if (layout.SequenceLength != file.SequenceLength)
        {
            throw new ArgumentException($"{nameof(layout)}: expected a sequence of {file.SequenceLength} tokens ({target.Path}), actual {layout.SequenceLength}.", nameof(layout));
        }
        int local = layout.LocalLength(rank);
        int elementSize = ElementTypes.SizeOf(target.ElementType);
        var source = new SequenceTensorGeometry(shardLayout, file.Batch, local, file.Heads, file.HeadDim);
        if (shardBytes != source.Elements * elementSize)
        {
            throw new ArgumentException($"{nameof(shard)}: expected {source.Elements * elementSize} bytes (rank {rank}'s {local} rows of {target.Path}), actual {shardBytes}.", nameof(shard));
        }
        int runBytes = file.HeadDim * elementSize;
        // A file chunk is rows × every head (bshd) or rows of one head (bhsd); strided runs are one row at a time.
        int chunkRowBytes = file.Layout == TensorLayout.Bshd ? file.Heads * runBytes : runBytes;
        int chunkHeads = file.Layout == TensorLayout.Bshd ? file.Heads : 1;
        int maxChunkRows = Math.Max(1, ChunkBytes / chunkRowBytes);
        if (_staging.Length < Math.Min((long)maxChunkRows, local) * chunkRowBytes)
        {
            _staging = GC.AllocateUninitializedArray<byte>((int)(Math.Min((long)maxChunkRows, local) * chunkRowBytes));
        }
        var handle = _files[output];
        long dataOffset = _dataOffsets[output];
        for (int b = 0; b < file.Batch; b++)
        {
            foreach (var segment in layout.Segments(rank))
            {
                int chunkRows = segment.Stride == 1 ? maxChunkRows : 1;
                for (int first = 0; first < segment.Count; first += chunkRows)
                {
                    int rows = Math.Min(chunkRows, segment.Count - first);
                    int position = segment.GlobalAt(first);
                    for (int headStart = 0; headStart < file.Heads; headStart += chunkHeads)
                    {
                        var staging = _staging.AsSpan(0, rows * chunkRowBytes);
                        for (int r = 0; r < rows; r++)
                        {
                            for (int h = 0; h < chunkHeads; h++)
                            {
                                long from = source.Offset(b, segment.LocalStart + first + r, headStart + h) * elementSize;
                                new ReadOnlySpan<byte>((byte*)shard + from, runBytes).CopyTo(staging[((r * chunkHeads + h) * runBytes)..]);
                            }
                        }
                        RandomAccess.Write(handle, staging, dataOffset + file.Offset(b, position, headStart) * elementSize);
                    }
                }
            }
        }
    }
}
