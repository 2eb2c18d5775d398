namespace RingAttention.Planning;

/// <summary>One measured kernel call: its shape and the FLOP/s it reached (flash-attn's FLOP convention).</summary>
/// <param name="Type">Storage type.</param>
/// <param name="HeadDim">Head dimension.</param>
/// <param name="Causal">Whether the call was masked (a causal call over the whole block).</param>
/// <param name="BlockRows">Query rows (= key rows) of the call.</param>
/// <param name="FlopsPerSecond">Achieved FLOP/s (backward: 2.5 × the forward's FLOPs per second of the backward call).</param>
/// <param name="Direction">The pass measured; files written before the backward was measured hold forward figures only.</param>
public readonly record struct KernelMeasurement(ElementType Type, int HeadDim, bool Causal, long BlockRows, double FlopsPerSecond,
    [property: System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<PassDirection>))]
    PassDirection Direction = PassDirection.Forward);
