using System.Runtime.InteropServices;

namespace RingAttention.Kernels;

/// <summary>
/// Run-time arguments of the split-KV decode kernel and of its combine (flash-attention's decode params): the shared
/// <see cref="FlashQkvParams"/> part first, as in <see cref="FlashForwardParams"/>, then what decode adds. Mirrored
/// field for field by <c>FlashDecodeParams</c> in <c>kernels/flash_params.cuh</c>.
/// <para>
/// Q is fp32 [batch, SeqLenQ, heads, headDim] (the step's few new query rows, widened on the host); K and V are one
/// rank's KV cache in the storage type, [batch, kvHeads, capacity, headDim] through the strides. Every query row and
/// cache row carries its global position (<see cref="QPositions"/>, <see cref="KPositions"/>), because a shard holds
/// non-contiguous positions; under the causal mask a key is visible when its position is at most the query's.
/// </para>
/// <para>
/// The decode kernel leaves one fp32 state per (row, split), row = (batch · SeqLenQ + t) · Heads + head:
/// <see cref="PartialO"/> [rows, Splits, HeadDim] unnormalised, <see cref="PartialMax"/> (log2 units) and
/// <see cref="PartialSum"/> [rows, Splits]; the combine merges the splits in split order into <see cref="O"/> (fp32
/// [rows, HeadDim], normalised) and <see cref="Lse"/> (natural log, [rows]; −inf and O = 0 for a row that saw no key).
/// </para>
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FlashDecodeParams
{
    /// <summary>The QKV part every kernel kind shares (in C++ the base struct). Q is fp32 here.</summary>
    public FlashQkvParams Qkv;

    /// <summary>Global position of each new query token, int [SeqLenQ].</summary>
    public nint QPositions;
    /// <summary>Global position of each cache row, int [SeqLenK].</summary>
    public nint KPositions;
    /// <summary>Per-split unnormalised output, fp32 [rows, Splits, HeadDim].</summary>
    public nint PartialO;
    /// <summary>Per-split row maximum in log2 units, fp32 [rows, Splits].</summary>
    public nint PartialMax;
    /// <summary>Per-split softmax denominator relative to its maximum, fp32 [rows, Splits].</summary>
    public nint PartialSum;
    /// <summary>The rank's normalised partial output, fp32 [rows, HeadDim].</summary>
    public nint O;
    /// <summary>The rank's partial LSE, fp32 natural log [rows].</summary>
    public nint Lse;

    /// <summary>New query tokens T of the step.</summary>
    public int SeqLenQ;
    /// <summary>Cache rows of the shard (0: an empty shard, whose rows get O = 0 and LSE = −inf).</summary>
    public int SeqLenK;
    /// <summary>Splits of the cache over thread blocks (at least 1).</summary>
    public int Splits;
    /// <summary>Cache rows per split (Splits · KeysPerSplit ≥ SeqLenK).</summary>
    public int KeysPerSplit;
    /// <summary>Softmax scale applied to QKᵀ.</summary>
    public float ScaleSoftmax;
    /// <summary><see cref="ScaleSoftmax"/> · log2(e): scores enter exp2 in these units.</summary>
    public float ScaleSoftmaxLog2;
    /// <summary>Non-zero: apply the causal mask by position. Zero: every cache row is visible.</summary>
    public int IsCausal;
    /// <summary>Storage type of the cache (<see cref="RingAttention.ElementType"/> as int).</summary>
    public int ElementType;
}
