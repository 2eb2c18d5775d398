namespace RingAttention.Kernels;

/// <summary>
/// The tensors one backward kernel call reads and adds to, as whole tensors (not yet offset to a block): the query
/// side of <paramref name="QueryRows"/> rows (Q, O, dO and the fp32 dQ accumulator [batch, rows, heads, headDim]; LSE
/// and D [batch, heads, rows]) and the key side of <paramref name="KeyRows"/> rows (K and V in the storage type, the
/// fp32 dK and dV accumulators, all [batch, rows, kvHeads, headDim]).
/// </summary>
/// <param name="Q">Queries, storage type.</param>
/// <param name="O">Forward output, storage type (read by the preprocess).</param>
/// <param name="DO">Gradient of the output, storage type.</param>
/// <param name="Lse">Final LSE of the query rows, fp32.</param>
/// <param name="DSum">D = rowsum(dO ∘ O), fp32.</param>
/// <param name="DQAccum">dQ accumulator, fp32.</param>
/// <param name="QueryRows">Rows of the query side.</param>
/// <param name="K">Keys, storage type.</param>
/// <param name="V">Values, storage type.</param>
/// <param name="DKAccum">dK accumulator, fp32.</param>
/// <param name="DVAccum">dV accumulator, fp32.</param>
/// <param name="KeyRows">Rows of the key side.</param>
public readonly record struct BackwardOperands(nint Q, nint O, nint DO, nint Lse, nint DSum, nint DQAccum, int QueryRows,
    nint K, nint V, nint DKAccum, nint DVAccum, int KeyRows);
