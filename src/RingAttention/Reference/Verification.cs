using System.Runtime.InteropServices;
using RingAttention.Inputs;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Reference;

/// <summary>How far a rank's outputs are from the float64 reference on the sampled rows it holds.</summary>
/// <param name="Rows">Sampled (batch, position) rows checked.</param>
/// <param name="MaxAbsError">Largest |O − O_ref| over those rows.</param>
/// <param name="MaxReference">Largest finite |O_ref| over those rows (relative error = MaxAbsError / MaxReference).</param>
/// <param name="MaxLseAbsError">Largest |LSE − LSE_ref|.</param>
public readonly record struct VerificationResult(int Rows, double MaxAbsError, double MaxReference, double MaxLseAbsError)
{
    /// <summary>Nothing checked.</summary>
    public static VerificationResult None => new(0, 0, 0, 0);

    /// <summary>Max abs error relative to the largest reference value.</summary>
    public double MaxRelativeError => MaxReference > 0 ? MaxAbsError / MaxReference : MaxAbsError;

    /// <summary>The worse of two results (for combining ranks).</summary>
    public VerificationResult Combine(VerificationResult other) => new(
        Rows + other.Rows, Math.Max(MaxAbsError, other.MaxAbsError), Math.Max(MaxReference, other.MaxReference), Math.Max(MaxLseAbsError, other.MaxLseAbsError));
}

/// <summary>Checks ring outputs against <see cref="StreamingReference64"/> on sampled rows, rank by rank.</summary>
public static class Verification
{
    /// <summary>
    /// <paramref name="count"/> (batch, position) rows spread evenly over the whole problem, always including the
    /// first and last position; the same list on every rank.
    /// </summary>
    public static IReadOnlyList<(int Batch, int Position)> SampleRows(int batch, int sequenceLength, int count)
    {
        Guard.AtLeast(count, 0);
        long total = (long)batch * sequenceLength;
        count = (int)Math.Min(count, total);
        var rows = new List<(int, int)>(count);
        for (int i = 0; i < count; i++)
        {
            long flat = count == 1 ? total - 1 : i * (total - 1) / (count - 1);
            rows.Add(((int)(flat / sequenceLength), (int)(flat % sequenceLength)));
        }
        return rows;
    }

    /// <summary>Compares the sampled rows held by <paramref name="rank"/> with the reference.</summary>
    public static VerificationResult Check(AttentionOptions options, ISequenceLayout layout, ITensorSource source, IAttentionBackend backend,
        RingRank rank, IReadOnlyList<(int Batch, int Position)> samples, int threads)
    {
        var mine = samples.Where(s => layout.Locate(s.Position).Rank == rank.Rank).ToList();
        if (mine.Count == 0)
        {
            return VerificationResult.None;
        }
        var reference = StreamingReference64.Compute(options, source, mine, threads);
        int h = options.Heads, d = options.HeadDim, local = rank.LocalLength;
        var outputRow = new float[h * d];
        var storedRow = new byte[h * d * ElementTypes.SizeOf(options.ElementType)];
        var result = VerificationResult.None;
        Span<float> lse = stackalloc float[1];
        foreach (var row in reference)
        {
            int localIndex = layout.Locate(row.Position).LocalIndex;
            backend.Download(rank.Tensors.O, ((long)row.Batch * local + localIndex) * storedRow.Length, storedRow);
            Widen(options.ElementType, storedRow, outputRow);
            double maxError = 0, maxReference = 0, maxLseError = 0;
            for (int i = 0; i < outputRow.Length; i++)
            {
                maxError = Math.Max(maxError, AbsError(outputRow[i], row.O[i]));
                maxReference = double.IsFinite(row.O[i]) ? Math.Max(maxReference, Math.Abs(row.O[i])) : maxReference;
            }
            for (int head = 0; head < h; head++)
            {
                backend.Download(rank.Tensors.Lse, (((long)row.Batch * h + head) * local + localIndex) * sizeof(float), MemoryMarshal.AsBytes(lse));
                maxLseError = Math.Max(maxLseError, AbsError(lse[0], row.Lse[head]));
            }
            result = result.Combine(new VerificationResult(1, maxError, maxReference, maxLseError));
        }
        return result;
    }

    /// <summary>
    /// |actual − expected|, where non-finite values must match exactly: NaN where the reference is NaN (inputs with
    /// NaN propagate it, as in PyTorch) and the same infinity; any other NaN or infinity is an infinite error.
    /// </summary>
    private static double AbsError(float actual, double expected) =>
        double.IsNaN(expected) ? (float.IsNaN(actual) ? 0 : double.PositiveInfinity)
        : float.IsNaN(actual) ? double.PositiveInfinity
        : actual == expected ? 0
        : Math.Abs(actual - expected);

    private static unsafe void Widen(ElementType type, byte[] stored, float[] row)
    {
        fixed (byte* bytes = stored)
        {
            Cpu.StorageConversion.Widen(type, bytes, row);
        }
    }
}
