using System.Numerics.Tensors;

namespace RingAttention;

/// <summary>
/// Combines two normalised partial attention results over disjoint key sets through their log-sum-exp
/// (ring-flash-attention's <c>update_out_and_lse</c>). fp32, natural log. −inf is the identity, equal LSEs
/// (including both +inf) split evenly, and no input of ±inf produces NaN.
/// </summary>
public static class LseMerge
{
    /// <summary>Merges one row: (o, lse) ← (o, lse) ⊕ (oBlock, lseBlock).</summary>
    public static void MergeRow(Span<float> o, ref float lse, ReadOnlySpan<float> oBlock, float lseBlock)
    {
        Guard.Length(oBlock.Length, o.Length, "one output row");
        if (float.IsNegativeInfinity(lseBlock))
        {
            return;
        }
        if (float.IsNegativeInfinity(lse))
        {
            oBlock.CopyTo(o);
            lse = lseBlock;
            return;
        }
        // O' = O + σ(Lb − L)·(Ob − O); L' = max + log1p(exp(−|L − Lb|)). Equal values (both +inf too) give σ = ½.
        float difference = lse == lseBlock ? 0f : lseBlock - lse;
        float blockWeight = Sigmoid(difference);
        TensorPrimitives.Lerp(o, oBlock, blockWeight, o);
        lse = MathF.Max(lse, lseBlock) + MathF.Log(1f + MathF.Exp(-MathF.Abs(difference)));
    }

    /// <summary>
    /// Merges a partial result for query rows [rowStart, rowStart + rowCount) into a running result.
    /// <paramref name="o"/> is [batch, seqLen, heads, headDim] and <paramref name="lse"/> [batch, heads, seqLen];
    /// the partial <paramref name="oBlock"/> is [batch, rowCount, heads, headDim] and <paramref name="lseBlock"/>
    /// [batch, heads, rowCount] (zigzag merges half a block this way).
    /// </summary>
    public static void Merge(
        Span<float> o, Span<float> lse, ReadOnlySpan<float> oBlock, ReadOnlySpan<float> lseBlock,
        int batch, int heads, int headDim, int seqLen, int rowStart, int rowCount)
    {
        Guard.AtLeast(batch, 1);
        Guard.AtLeast(heads, 1);
        Guard.InRange(headDim, 1, AttentionOptions.MaxHeadDim);
        Guard.AtLeast(seqLen, 0);
        Guard.InRange(rowStart, 0, seqLen);
        Guard.InRange(rowCount, 0, seqLen - rowStart);
        Guard.Length(o.Length, (long)batch * seqLen * heads * headDim, "batch × seqLen × heads × headDim");
        Guard.Length(lse.Length, (long)batch * heads * seqLen, "batch × heads × seqLen");
        Guard.Length(oBlock.Length, (long)batch * rowCount * heads * headDim, "batch × rowCount × heads × headDim");
        Guard.Length(lseBlock.Length, (long)batch * heads * rowCount, "batch × heads × rowCount");
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < rowCount; i++)
                {
                    int row = rowStart + i;
                    var target = o.Slice((((b * seqLen) + row) * heads + h) * headDim, headDim);
                    var block = oBlock.Slice((((b * rowCount) + i) * heads + h) * headDim, headDim);
                    MergeRow(target, ref lse[(b * heads + h) * seqLen + row], block, lseBlock[(b * heads + h) * rowCount + i]);
                }
            }
        }
    }

    private static float Sigmoid(float x) => x >= 0 ? 1f / (1f + MathF.Exp(-x)) : MathF.Exp(x) / (1f + MathF.Exp(x));
}
