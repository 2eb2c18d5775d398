using System.Runtime.InteropServices;

namespace RingAttention.Kernels;

/// <summary>
/// Run-time arguments of one forward block-kernel call: the shared <see cref="FlashQkvParams"/> part first, then the
/// forward part, mirrored field for field by <c>kernels/flash_params.cuh</c> (<c>FlashFwdParams</c>, which derives
/// from <c>FlashQkvParams</c>). Pointers are addresses the backend's kernels read (host memory for the CPU, device
/// memory for CUDA), already offset to the first row of the query and key runs. Strides are in elements.
/// <para>
/// The call continues a running fp32 state instead of producing a partial to merge: <c>OAccum</c> holds the
/// unnormalised output, <c>RowMax</c> the running maximum of the scores in log2 units (score · scale · log2 e)
/// and <c>RowSum</c> the running softmax denominator relative to that maximum. A row that has seen no key
/// has RowMax = −inf, RowSum = 0 and OAccum = 0. <see cref="FlashFinalizeParams"/> turns the state into O and LSE.
/// </para>
/// <para>
/// The causal mask is defined by global token positions: query row i is at <c>QPosStart + i·QPosStride</c>, key
/// row j at <c>KPosStart + j·KPosStride</c>, and a key is visible when its position is at most the query's.
/// </para>
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FlashForwardParams
{
    /// <summary>The QKV part every kernel kind shares (in C++ the base struct); its fields read through the properties below.</summary>
    public FlashQkvParams Qkv;

    /// <summary>Running unnormalised output, fp32.</summary>
    public nint OAccum;
    /// <summary>Running row maximum in log2 units, fp32.</summary>
    public nint RowMax;
    /// <summary>Running softmax denominator, fp32.</summary>
    public nint RowSum;

    /// <summary>OAccum stride between batches.</summary>
    public long OBatchStride;
    /// <summary>OAccum stride between rows.</summary>
    public long ORowStride;
    /// <summary>OAccum stride between heads.</summary>
    public long OHeadStride;
    /// <summary>RowMax/RowSum stride between batches (rows are contiguous).</summary>
    public long StatBatchStride;
    /// <summary>RowMax/RowSum stride between heads.</summary>
    public long StatHeadStride;

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
    /// <summary>Storage type of Q, K and V (<see cref="RingAttention.ElementType"/> as int).</summary>
    public int ElementType;

    /// <summary>Q (<see cref="FlashQkvParams.Q"/>).</summary>
    public nint Q { readonly get => Qkv.Q; set => Qkv.Q = value; }
    /// <summary>K (<see cref="FlashQkvParams.K"/>).</summary>
    public nint K { readonly get => Qkv.K; set => Qkv.K = value; }
    /// <summary>V (<see cref="FlashQkvParams.V"/>).</summary>
    public nint V { readonly get => Qkv.V; set => Qkv.V = value; }
    /// <summary>Q stride between batches.</summary>
    public long QBatchStride { readonly get => Qkv.QBatchStride; set => Qkv.QBatchStride = value; }
    /// <summary>Q stride between rows.</summary>
    public long QRowStride { readonly get => Qkv.QRowStride; set => Qkv.QRowStride = value; }
    /// <summary>Q stride between heads.</summary>
    public long QHeadStride { readonly get => Qkv.QHeadStride; set => Qkv.QHeadStride = value; }
    /// <summary>K stride between batches.</summary>
    public long KBatchStride { readonly get => Qkv.KBatchStride; set => Qkv.KBatchStride = value; }
    /// <summary>K stride between rows.</summary>
    public long KRowStride { readonly get => Qkv.KRowStride; set => Qkv.KRowStride = value; }
    /// <summary>K stride between heads.</summary>
    public long KHeadStride { readonly get => Qkv.KHeadStride; set => Qkv.KHeadStride = value; }
    /// <summary>V stride between batches.</summary>
    public long VBatchStride { readonly get => Qkv.VBatchStride; set => Qkv.VBatchStride = value; }
    /// <summary>V stride between rows.</summary>
    public long VRowStride { readonly get => Qkv.VRowStride; set => Qkv.VRowStride = value; }
    /// <summary>V stride between heads.</summary>
    public long VHeadStride { readonly get => Qkv.VHeadStride; set => Qkv.VHeadStride = value; }
    /// <summary>Batch size.</summary>
    public int Batch { readonly get => Qkv.Batch; set => Qkv.Batch = value; }
    /// <summary>Query heads.</summary>
    public int Heads { readonly get => Qkv.Heads; set => Qkv.Heads = value; }
    /// <summary>Key/value heads.</summary>
    public int KvHeads { readonly get => Qkv.KvHeads; set => Qkv.KvHeads = value; }
    /// <summary>Head dimension.</summary>
    public int HeadDim { readonly get => Qkv.HeadDim; set => Qkv.HeadDim = value; }

    /// <summary>
    /// The one builder of forward kernel arguments: the call over <paramref name="pair"/>'s query rows of
    /// <paramref name="operands"/>' Q (and running state) against its key rows of K and V, pointers offset to the
    /// runs' first rows, positions from the runs, masked when the pair is.
    /// </summary>
    public static FlashForwardParams ForBlock(AttentionOptions options, in ForwardOperands operands, Ring.BlockPair pair)
    {
        int d = options.HeadDim, heads = options.Heads, elementSize = ElementTypes.SizeOf(options.ElementType);
        long queryRow = options.QueryRowElements, keyRow = options.KeyRowElements;
        float scale = options.EffectiveSoftmaxScale;
        long queryStart = pair.Query.LocalStart, keyStart = pair.Key.LocalStart;
        return new FlashForwardParams
        {
            Q = operands.Q + (nint)(queryStart * queryRow * elementSize),
            K = operands.K + (nint)(keyStart * keyRow * elementSize),
            V = operands.V + (nint)(keyStart * keyRow * elementSize),
            OAccum = operands.OAccum + (nint)(queryStart * queryRow * sizeof(float)),
            RowMax = operands.RowMax + (nint)(queryStart * sizeof(float)),
            RowSum = operands.RowSum + (nint)(queryStart * sizeof(float)),
            QBatchStride = operands.QueryRows * queryRow, QRowStride = queryRow, QHeadStride = d,
            KBatchStride = operands.KeyRows * keyRow, KRowStride = keyRow, KHeadStride = d,
            VBatchStride = operands.KeyRows * keyRow, VRowStride = keyRow, VHeadStride = d,
            OBatchStride = operands.QueryRows * queryRow, ORowStride = queryRow, OHeadStride = d,
            StatBatchStride = (long)heads * operands.QueryRows, StatHeadStride = operands.QueryRows,
            Batch = options.Batch, Heads = heads, KvHeads = options.EffectiveKvHeads, HeadDim = d,
            SeqLenQ = pair.Query.Count, SeqLenK = pair.Key.Count,
            QPosStart = pair.Query.GlobalStart, QPosStride = pair.Query.Stride, KPosStart = pair.Key.GlobalStart, KPosStride = pair.Key.Stride,
            ScaleSoftmax = scale, ScaleSoftmaxLog2 = scale * MathF.Log2(MathF.E),
            IsCausal = pair.Masked ? 1 : 0, ElementType = (int)options.ElementType,
        };
    }

    /// <summary>
    /// One call over whole contiguous tensors shaped by <paramref name="options"/>: Q and OAccum
    /// [batch, seqLenQ, heads, headDim], K and V [batch, seqLenK, kvHeads, headDim], RowMax and RowSum
    /// [batch, heads, seqLenQ]; queries and keys at positions 0, 1, 2, … (adjust with <c>with</c>), masked when
    /// <see cref="AttentionOptions.Causal"/>.
    /// </summary>
    public static FlashForwardParams ForContiguousTensors(AttentionOptions options, int seqLenQ, int seqLenK,
        nint q, nint k, nint v, nint oAccum, nint rowMax, nint rowSum)
    {
        options.Validate();
        var whole = new Ring.BlockPair(new Layouts.PositionSegment(0, seqLenQ, 0, 1), new Layouts.PositionSegment(0, seqLenK, 0, 1), options.Causal);
        return ForBlock(options, new ForwardOperands(q, seqLenQ, k, v, seqLenK, oAccum, rowMax, rowSum), whole);
    }
}

/// <summary>
/// Arguments of the finalize step, mirrored by <c>FlashFinalizeParams</c> in <c>kernels/flash_params.cuh</c>:
/// O = OAccum / RowSum in the storage type and LSE = RowMax·ln 2 + ln RowSum; a row with RowSum = 0 gets
/// O = 0 and LSE = −inf. All tensors are contiguous: OAccum and O [batch, seq, heads, headDim], the statistics
/// and LSE [batch, heads, seq].
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FlashFinalizeParams
{
    /// <summary>Running unnormalised output, fp32.</summary>
    public nint OAccum;
    /// <summary>Running row maximum in log2 units, fp32.</summary>
    public nint RowMax;
    /// <summary>Running softmax denominator, fp32.</summary>
    public nint RowSum;
    /// <summary>Output O in <see cref="ElementType"/>; may alias <see cref="OAccum"/> when the type is fp32.</summary>
    public nint O;
    /// <summary>Output LSE, fp32, natural log.</summary>
    public nint Lse;
    /// <summary>Batch size.</summary>
    public int Batch;
    /// <summary>Query heads.</summary>
    public int Heads;
    /// <summary>Head dimension.</summary>
    public int HeadDim;
    /// <summary>Query rows.</summary>
    public int SeqLenQ;
    /// <summary>Storage type of O (<see cref="RingAttention.ElementType"/> as int).</summary>
    public int ElementType;
    /// <summary>Keeps the struct's size a multiple of 8, as in the C header.</summary>
    public int Reserved;
}
