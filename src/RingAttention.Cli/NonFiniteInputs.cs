using RingAttention.Inputs;
using RingAttention.Layouts;

namespace RingAttention.Cli;

/// <summary>The first NaN or ±inf of a rank's inputs, by tensor, batch, position, head and dim.</summary>
/// <param name="Tensor">Q, K or V.</param>
/// <param name="Batch">Batch index.</param>
/// <param name="Position">Global sequence position.</param>
/// <param name="Head">Head (a KV head for K and V).</param>
/// <param name="Dim">Index within the head.</param>
/// <param name="Value">NaN, +inf or −inf.</param>
internal sealed record NonFiniteValue(QkvTensor Tensor, int Batch, int Position, int Head, int Dim, float Value)
{
    /// <summary>Orders values as they lie in the inputs: Q before K before V, then batch, position, head, dim.</summary>
    public (QkvTensor, int, int, int, int) Order => (Tensor, Batch, Position, Head, Dim);

    /// <inheritdoc />
    public override string ToString() => $"{Tensor}[batch {Batch}, position {Position}, head {Head}, dim {Dim}] = {Value}";
}

/// <summary>
/// Counts the NaN and ±inf values in the inputs of the ranks a process hosts (each rank reads only its own rows, as
/// for loading). They are not errors by default: NaN propagates to O and LSE as in PyTorch, and the run says so;
/// --check-finite makes them an error.
/// </summary>
internal static class NonFiniteInputs
{
    /// <summary>How many non-finite values rank <paramref name="rank"/>'s Q, K and V rows hold, and the first one.</summary>
    public static (long Count, NonFiniteValue? First) Scan(ITensorSource source, AttentionOptions options, ISequenceLayout layout, int rank)
    {
        long count = 0;
        NonFiniteValue? first = null;
        foreach (var (tensor, heads) in new[] { (QkvTensor.Q, options.Heads), (QkvTensor.K, options.EffectiveKvHeads), (QkvTensor.V, options.EffectiveKvHeads) })
        {
            var row = new float[heads * options.HeadDim];
            for (int b = 0; b < options.Batch; b++)
            {
                foreach (var segment in layout.Segments(rank))
                {
                    for (int i = 0; i < segment.Count; i++)
                    {
                        int position = segment.GlobalAt(i);
                        source.ReadRow(tensor, b, position, row);
                        // One vectorised pass per row: the index of the largest magnitude is that of the first NaN if any, else of an inf if any.
                        if (float.IsFinite(row[System.Numerics.Tensors.TensorPrimitives.IndexOfMaxMagnitude(row)]))
                        {
                            continue;
                        }
                        for (int e = 0; e < row.Length; e++)
                        {
                            if (!float.IsFinite(row[e]))
                            {
                                count++;
                                var found = new NonFiniteValue(tensor, b, position, e / options.HeadDim, e % options.HeadDim, row[e]);
                                first = first is null || found.Order.CompareTo(first.Order) < 0 ? found : first;
                            }
                        }
                    }
                }
            }
        }
        return (count, first);
    }
}
