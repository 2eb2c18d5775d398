using System.Runtime.InteropServices;

namespace RingAttention.Kernels;

/// <summary>
/// Run-time arguments of one backward block-kernel call (and of its once-per-rank preprocess): the shared
/// <see cref="FlashQkvParams"/> part first, as in <see cref="FlashForwardParams"/>, then what the backward adds
/// (flash-attention's <c>Flash_bwd_params</c>). Pointers are addresses the backend's kernels read, already offset to the first row of
/// the query and key runs. Strides are in elements.
/// <para>
/// The call adds the contributions of its (query rows, key rows) pair to three fp32 accumulators that the caller
/// keeps across calls: dQ into <see cref="DQAccum"/>, dK into <see cref="DKAccum"/>, dV into <see cref="DVAccum"/>.
/// Probabilities are recomputed from the final <see cref="Lse"/> of the query rows (over every key they attend, not
/// just this call's); a row whose LSE is −inf saw no key and contributes nothing. <see cref="DSum"/> holds
/// D = rowsum(dO ∘ O), written once per rank by the preprocess from <see cref="DO"/> and <see cref="O"/>.
/// </para>
/// <para>
/// The causal mask is the forward's: query row i is at <c>QPosStart + i·QPosStride</c>, key row j at
/// <c>KPosStart + j·KPosStride</c>, and a key is visible when its position is at most the query's.
/// </para>
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FlashBackwardParams
{
    /// <summary>The Q, K, V part every kernel kind shares (flash-attention's <c>Qkv_params</c>; in C++ the base struct).</summary>
    public FlashQkvParams Qkv;

    // The backward part (flash-attention's Flash_bwd_params).
    /// <summary>Forward output O, <see cref="ElementType"/> elements (read by the preprocess only).</summary>
    public nint O;
    /// <summary>Gradient of the loss with respect to O, <see cref="ElementType"/> elements.</summary>
    public nint DO;
    /// <summary>Final LSE of the query rows, fp32, natural log; −inf for a row that saw no key.</summary>
    public nint Lse;
    /// <summary>D = rowsum(dO ∘ O), fp32, laid out like <see cref="Lse"/>.</summary>
    public nint DSum;
    /// <summary>dQ accumulator, fp32 (scale already applied).</summary>
    public nint DQAccum;
    /// <summary>dK accumulator, fp32 (scale already applied).</summary>
    public nint DKAccum;
    /// <summary>dV accumulator, fp32.</summary>
    public nint DVAccum;

    /// <summary>O stride between batches.</summary>
    public long OBatchStride;
    /// <summary>O stride between rows.</summary>
    public long ORowStride;
    /// <summary>O stride between heads.</summary>
    public long OHeadStride;
    /// <summary>LSE/DSum stride between batches (rows are contiguous).</summary>
    public long StatBatchStride;
    /// <summary>LSE/DSum stride between heads.</summary>
    public long StatHeadStride;
    /// <summary>dO stride between batches.</summary>
    public long DOBatchStride;
    /// <summary>dO stride between rows.</summary>
    public long DORowStride;
    /// <summary>dO stride between heads.</summary>
    public long DOHeadStride;
    /// <summary>DQAccum stride between batches.</summary>
    public long DQAccumBatchStride;
    /// <summary>DQAccum stride between rows.</summary>
    public long DQAccumRowStride;
    /// <summary>DQAccum stride between heads.</summary>
    public long DQAccumHeadStride;
    /// <summary>DKAccum stride between batches.</summary>
    public long DKAccumBatchStride;
    /// <summary>DKAccum stride between rows.</summary>
    public long DKAccumRowStride;
    /// <summary>DKAccum stride between heads.</summary>
    public long DKAccumHeadStride;
    /// <summary>DVAccum stride between batches.</summary>
    public long DVAccumBatchStride;
    /// <summary>DVAccum stride between rows.</summary>
    public long DVAccumRowStride;
    /// <summary>DVAccum stride between heads.</summary>
    public long DVAccumHeadStride;

    /// <summary>Query rows in this call.</summary>
    public int SeqLenQ;
    /// <summary>Key rows in this call.</summary>
    public int SeqLenK;
    /// <summary>Global position of query row 0.</summary>
    public int QPosStart;
    /// <summary>Global position step between query rows (at least 1).</summary>
    public int QPosStride;
    /// <summary>Global position of key row 0.</summary>
    public int KPosStart;
    /// <summary>Global position step between key rows (at least 1).</summary>
    public int KPosStride;
    /// <summary>Softmax scale applied to QKᵀ.</summary>
    public float ScaleSoftmax;
    /// <summary><see cref="ScaleSoftmax"/> · log2(e): scores enter exp2 in these units.</summary>
    public float ScaleSoftmaxLog2;
    /// <summary>Non-zero: apply the causal mask by position. Zero: every key is visible.</summary>
    public int IsCausal;
    /// <summary>Storage type of Q, K, V, O and dO (<see cref="RingAttention.ElementType"/> as int).</summary>
    public int ElementType;

    /// <summary>
    /// The one builder of backward kernel arguments: the call over <paramref name="pair"/>'s query rows of
    /// <paramref name="operands"/>' query side against its key rows of the key side, pointers offset to the runs' first
    /// rows, positions from the runs, masked when the pair is.
    /// </summary>
    public static FlashBackwardParams ForBlock(AttentionOptions options, in BackwardOperands operands, Ring.BlockPair pair)
    {
        int d = options.HeadDim, heads = options.Heads, elementSize = ElementTypes.SizeOf(options.ElementType);
        long queryRow = options.QueryRowElements, keyRow = options.KeyRowElements;
        float scale = options.EffectiveSoftmaxScale;
        long queryStart = pair.Query.LocalStart, keyStart = pair.Key.LocalStart;
        long queryBatch = operands.QueryRows * queryRow, keyBatch = operands.KeyRows * keyRow;
        return new FlashBackwardParams
        {
            Qkv = new FlashQkvParams
            {
                Q = operands.Q + (nint)(queryStart * queryRow * elementSize),
                K = operands.K + (nint)(keyStart * keyRow * elementSize),
                V = operands.V + (nint)(keyStart * keyRow * elementSize),
                QBatchStride = queryBatch, QRowStride = queryRow, QHeadStride = d,
                KBatchStride = keyBatch, KRowStride = keyRow, KHeadStride = d,
                VBatchStride = keyBatch, VRowStride = keyRow, VHeadStride = d,
                Batch = options.Batch, Heads = heads, KvHeads = options.EffectiveKvHeads, HeadDim = d,
            },
            O = operands.O + (nint)(queryStart * queryRow * elementSize),
            DO = operands.DO + (nint)(queryStart * queryRow * elementSize),
            Lse = operands.Lse + (nint)(queryStart * sizeof(float)),
            DSum = operands.DSum + (nint)(queryStart * sizeof(float)),
            DQAccum = operands.DQAccum + (nint)(queryStart * queryRow * sizeof(float)),
            DKAccum = operands.DKAccum + (nint)(keyStart * keyRow * sizeof(float)),
            DVAccum = operands.DVAccum + (nint)(keyStart * keyRow * sizeof(float)),
            OBatchStride = queryBatch, ORowStride = queryRow, OHeadStride = d,
            StatBatchStride = (long)heads * operands.QueryRows, StatHeadStride = operands.QueryRows,
            DOBatchStride = queryBatch, DORowStride = queryRow, DOHeadStride = d,
            DQAccumBatchStride = queryBatch, DQAccumRowStride = queryRow, DQAccumHeadStride = d,
            DKAccumBatchStride = keyBatch, DKAccumRowStride = keyRow, DKAccumHeadStride = d,
            DVAccumBatchStride = keyBatch, DVAccumRowStride = keyRow, DVAccumHeadStride = d,
            SeqLenQ = pair.Query.Count, SeqLenK = pair.Key.Count,
            QPosStart = pair.Query.GlobalStart, QPosStride = pair.Query.Stride, KPosStart = pair.Key.GlobalStart, KPosStride = pair.Key.Stride,
            ScaleSoftmax = scale, ScaleSoftmaxLog2 = scale * MathF.Log2(MathF.E),
            IsCausal = pair.Masked ? 1 : 0, ElementType = (int)options.ElementType,
        };
    }

    /// <summary>
    /// The preprocess call over all <see cref="BackwardOperands.QueryRows"/> query rows of <paramref name="operands"/>
    /// (it reads no keys).
    /// </summary>
    public static FlashBackwardParams ForPreprocess(AttentionOptions options, in BackwardOperands operands) =>
        ForBlock(options, operands, new Ring.BlockPair(new Layouts.PositionSegment(0, operands.QueryRows, 0, 1),
            new Layouts.PositionSegment(0, 0, 0, 1), Masked: false));

    /// <summary>
    /// One call over whole contiguous tensors shaped by <paramref name="options"/>: Q, O, dO and DQAccum
    /// [batch, seqLenQ, heads, headDim], K, V, DKAccum and DVAccum [batch, seqLenK, kvHeads, headDim], LSE and DSum
    /// [batch, heads, seqLenQ]; queries and keys at positions 0, 1, 2, … (adjust with <c>with</c>), masked when
    /// <see cref="AttentionOptions.Causal"/>.
    /// </summary>
    public static FlashBackwardParams ForContiguousTensors(AttentionOptions options, int seqLenQ, int seqLenK,
        nint q, nint k, nint v, nint o, nint dO, nint lse, nint dSum, nint dQAccum, nint dKAccum, nint dVAccum)
    {
        options.Validate();
        var whole = new Ring.BlockPair(new Layouts.PositionSegment(0, seqLenQ, 0, 1), new Layouts.PositionSegment(0, seqLenK, 0, 1), options.Causal);
        return ForBlock(options, new BackwardOperands(q, o, dO, lse, dSum, dQAccum, seqLenQ, k, v, dKAccum, dVAccum, seqLenK), whole);
    }
}
