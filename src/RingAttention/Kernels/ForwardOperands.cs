namespace RingAttention.Kernels;

/// <summary>
/// The tensors one forward kernel call reads and continues, as whole tensors (not yet offset to a block): Q and the
/// fp32 state of <paramref name="QueryRows"/> rows, K and V of <paramref name="KeyRows"/> rows, all contiguous
/// [batch, rows, heads, headDim] (statistics [batch, heads, rows]).
/// </summary>
/// <param name="Q">Queries, storage type.</param>
/// <param name="QueryRows">Rows of Q and of the running state.</param>
/// <param name="K">Keys, storage type.</param>
/// <param name="V">Values, storage type.</param>
/// <param name="KeyRows">Rows of K and V.</param>
/// <param name="OAccum">Running unnormalised output, fp32.</param>
/// <param name="RowMax">Running row maximum, fp32.</param>
/// <param name="RowSum">Running softmax denominator, fp32.</param>
public readonly record struct ForwardOperands(nint Q, int QueryRows, nint K, nint V, int KeyRows, nint OAccum, nint RowMax, nint RowSum);
