namespace RingAttention.Planning;

/// <summary>Which pass around the ring a prediction is for.</summary>
public enum PassDirection
{
    /// <summary>The forward pass: K/V in the storage type travel; 4·c²·D·H FLOPs per full block pair.</summary>
    Forward,

    /// <summary>
    /// The backward pass, modelled (this runtime has no backward ring yet): 2.5× the forward FLOPs (flash-attn's
    /// convention), and each step moves K/V in the storage type plus the travelling dK/dV in fp32.
    /// </summary>
    Backward,
}

/// <summary>The FLOP and byte rules of each direction.</summary>
public static class PassDirections
{
    /// <summary>Backward FLOPs as a multiple of the forward's (flash-attn's benchmark convention).</summary>
    public const double BackwardFlopFactor = 2.5;

    /// <summary>FLOPs of one visible (query, key) pair for one query head: 4·D forward, 2.5 × that backward.</summary>
    public static double FlopsPerPair(this PassDirection direction, int headDim) =>
        4.0 * headDim * (direction == PassDirection.Backward ? BackwardFlopFactor : 1.0);

    /// <summary>
    /// Bytes one K/V row element pair costs on the wire: K and V in the storage type forward; backward also the fp32
    /// dK and dV accumulators that travel with them (ring-flash-attention's rule).
    /// </summary>
    public static int BytesPerKvElement(this PassDirection direction, ElementType type) =>
        ElementTypes.SizeOf(type) + (direction == PassDirection.Backward ? sizeof(float) : 0);

    /// <summary>Lower-case name for reports.</summary>
    public static string Name(this PassDirection direction) => direction == PassDirection.Forward ? "forward" : "backward";
}
