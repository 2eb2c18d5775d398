using System.Runtime.InteropServices;

namespace RingAttention.Kernels;

/// <summary>
/// Run-time arguments of one block-kernel call, mirrored field for field by <c>kernels/flash_params.cuh</c>
/// (<c>FlashFwdParams</c>). Pointers are addresses the backend's kernels read (host memory for the CPU, device
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
public struct FlashForwardParams
{
    /// <summary>Q, <see cref="ElementType"/> elements.</summary>
    public nint Q;
    /// <summary>K, <see cref="ElementType"/> elements.</summary>
    public nint K;
    /// <summary>V, <see cref="ElementType"/> elements.</summary>
    public nint V;
    /// <summary>Running unnormalised output, fp32.</summary>
    public nint OAccum;
    /// <summary>Running row maximum in log2 units, fp32.</summary>
    public nint RowMax;
    /// <summary>Running softmax denominator, fp32.</summary>
    public nint RowSum;

    /// <summary>Q stride between batches.</summary>
    public long QBatchStride;
    /// <summary>Q stride between rows.</summary>
    public long QRowStride;
    /// <summary>Q stride between heads.</summary>
    public long QHeadStride;
    /// <summary>K stride between batches.</summary>
    public long KBatchStride;
    /// <summary>K stride between rows.</summary>
    public long KRowStride;
    /// <summary>K stride between heads.</summary>
    public long KHeadStride;
    /// <summary>V stride between batches.</summary>
    public long VBatchStride;
    /// <summary>V stride between rows.</summary>
    public long VRowStride;
    /// <summary>V stride between heads.</summary>
    public long VHeadStride;
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

    /// <summary>Batch size.</summary>
    public int Batch;
    /// <summary>Query heads.</summary>
    public int Heads;
    /// <summary>Key/value heads; <see cref="Heads"/> is a multiple of it.</summary>
    public int KvHeads;
    /// <summary>Head dimension, 1 to 256.</summary>
    public int HeadDim;
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
        int d = options.HeadDim;
        long queryRow = options.QueryRowElements, keyRow = options.KeyRowElements;
        float scale = options.EffectiveSoftmaxScale;
        return new FlashForwardParams
        {
            Q = q, K = k, V = v, OAccum = oAccum, RowMax = rowMax, RowSum = rowSum,
            QBatchStride = seqLenQ * queryRow, QRowStride = queryRow, QHeadStride = d,
            KBatchStride = seqLenK * keyRow, KRowStride = keyRow, KHeadStride = d,
            VBatchStride = seqLenK * keyRow, VRowStride = keyRow, VHeadStride = d,
            OBatchStride = seqLenQ * queryRow, ORowStride = queryRow, OHeadStride = d,
            StatBatchStride = (long)options.Heads * seqLenQ, StatHeadStride = seqLenQ,
            Batch = options.Batch, Heads = options.Heads, KvHeads = options.EffectiveKvHeads, HeadDim = d,
            SeqLenQ = seqLenQ, SeqLenK = seqLenK, QPosStart = 0, QPosStride = 1, KPosStart = 0, KPosStride = 1,
            ScaleSoftmax = scale, ScaleSoftmaxLog2 = scale * MathF.Log2(MathF.E),
            IsCausal = options.Causal ? 1 : 0, ElementType = (int)options.ElementType,
        };
    }
}

/// <summary>
/// Arguments of the finalize step, mirrored by <c>FlashFinalizeParams</c> in <c>kernels/flash_params.cuh</c>:
/// O = OAccum / RowSum in the storage type and LSE = RowMax·ln 2 + ln RowSum; a row with RowSum = 0 gets
/// O = 0 and LSE = −inf. All tensors are contiguous: OAccum and O [batch, seq, heads, headDim], the statistics
/// and LSE [batch, heads, seq].
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct FlashFinalizeParams
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
