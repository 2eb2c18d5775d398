using System.Runtime.CompilerServices;

namespace RingAttention.Inputs;

/// <summary>
/// Random inputs that any P reproduces: each value is a pure function of (seed, tensor, batch, global position,
/// head, dim), a counter-based generator (SplitMix64 finaliser over the counter, Box–Muller to a standard
/// normal). Ranks generate only their own rows, and the global tensors are identical for every P and layout.
/// </summary>
public sealed class CounterRandomSource : ITensorSource
{
    private readonly ulong _seed;
    private readonly AttentionOptions _options;

    /// <summary>Inputs for a sequence of <paramref name="sequenceLength"/> tokens shaped by <paramref name="options"/>.</summary>
    public CounterRandomSource(ulong seed, AttentionOptions options, int sequenceLength)
    {
        options.Validate();
        Guard.AtLeast(sequenceLength, 1);
        (_seed, _options, SequenceLength) = (seed, options, sequenceLength);
    }

    /// <inheritdoc />
    public int SequenceLength { get; }

    /// <inheritdoc />
    public void ReadRow(QkvTensor tensor, int batch, int position, Span<float> row)
    {
        int heads = tensor == QkvTensor.Q ? _options.Heads : _options.EffectiveKvHeads;
        int d = _options.HeadDim;
        Guard.Length(row.Length, (long)heads * d, "heads × headDim of one row");
        Guard.InRange(batch, 0, _options.Batch - 1);
        Guard.InRange(position, 0, SequenceLength - 1);
        for (int head = 0; head < heads; head++)
        {
            ulong rowKey = Mix(Mix(Mix(Mix(_seed ^ 0x5851F42D4C957F2DUL) ^ (ulong)tensor) ^ ((ulong)batch << 32 | (uint)head)) ^ (ulong)position);
            var values = row.Slice(head * d, d);
            for (int dim = 0; dim < d; dim += 2)
            {
                ulong bits = Mix(rowKey + (ulong)(dim / 2 + 1) * 0x9E3779B97F4A7C15UL);
                // Two 24-bit uniforms in (0, 1] and [0, 1) give two independent standard normals.
                double u1 = ((bits >> 40) + 1) * (1.0 / (1 << 24));
                double u2 = ((bits >> 8) & 0xFFFFFF) * (1.0 / (1 << 24));
                double radius = Math.Sqrt(-2.0 * Math.Log(u1));
                values[dim] = (float)(radius * Math.Cos(2 * Math.PI * u2));
                if (dim + 1 < d)
                {
                    values[dim + 1] = (float)(radius * Math.Sin(2 * Math.PI * u2));
                }
            }
        }
        StorageRounding.Round(_options.ElementType, row);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
