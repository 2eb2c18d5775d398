namespace RingAttention.Planning;

/// <summary>Predicted time of one layout at one P, forward and (when asked) backward, per layer.</summary>
/// <param name="Layout">Layout name.</param>
/// <param name="Ranks">P.</param>
/// <param name="Forward">The forward prediction.</param>
/// <param name="Backward">The backward prediction (modelled); null when not asked.</param>
public sealed record LayoutPrediction(string Layout, int Ranks, PassPrediction Forward, PassPrediction? Backward)
{
    /// <summary>Forward plus backward seconds (forward only when the backward was not asked).</summary>
    public double Seconds => Forward.PassSeconds + (Backward?.PassSeconds ?? 0);

    /// <summary>Efficiency of forward (+ backward) against the ideal device.</summary>
    public double Efficiency => (Forward.IdealSeconds + (Backward?.IdealSeconds ?? 0)) / (Ranks * Seconds);

    /// <summary>Bandwidth- or compute-bound, judged on the whole (forward + backward) time.</summary>
    public string Bound => Forward.ExposedSeconds + (Backward?.ExposedSeconds ?? 0) > 0.05 * Seconds ? "bandwidth-bound" : "compute-bound";
}

/// <summary>One device's answer to the ten-million-token question.</summary>
/// <param name="Device">Device key.</param>
/// <param name="SmallestRanks">Smallest P that fits the pass in memory; null when none up to the search limit does.</param>
/// <param name="Ranks">P used: the smallest P rounded up to whole nodes once it spans more than one.</param>
/// <param name="Link">Link key the ring uses at that P.</param>
/// <param name="Prediction">Predicted pass of the recommended layout at that P; null when nothing fits.</param>
public sealed record TenMillionAnswer(string Device, int? SmallestRanks, int? Ranks, string Link, LayoutPrediction? Prediction);

/// <summary>Everything <c>ringattn plan</c> reports.</summary>
/// <param name="Problem">The problem in words.</param>
/// <param name="Device">Device name.</param>
/// <param name="DeviceSource">Where the device's figures come from (datasheet or measurement).</param>
/// <param name="DeviceProvenance">Datasheet or measured.</param>
/// <param name="Link">Link name.</param>
/// <param name="LinkSource">Where the link's figures come from.</param>
/// <param name="Layers">Layers per pass.</param>
/// <param name="BudgetBytes">Device memory × memory fraction: what one layer's attention tensors may use.</param>
/// <param name="DeviceMemorySource">Where the device memory figure comes from.</param>
/// <param name="SmallestForwardRanks">Smallest P whose forward fits; null when none does.</param>
/// <param name="SmallestForwardBackwardRanks">Smallest P whose forward and backward fit (modelled); null when none does.</param>
/// <param name="ChosenRanks">P the recommendation is made for.</param>
/// <param name="Memory">Memory per rank at the chosen P and each predicted P.</param>
/// <param name="Overlap">Overlap condition per layout and direction at the chosen P.</param>
/// <param name="Predictions">Predictions per P and layout.</param>
/// <param name="RecommendedLayout">The layout to use at the chosen P.</param>
/// <param name="Reason">Why.</param>
/// <param name="TenMillion">The ten-million-token question per preset device.</param>
public sealed record Plan(
    string Problem, string Device, string DeviceSource, Provenance DeviceProvenance, string Link, string LinkSource, int Layers, double BudgetBytes, string DeviceMemorySource,
    int? SmallestForwardRanks, int? SmallestForwardBackwardRanks, int ChosenRanks, IReadOnlyList<RankMemory> Memory,
    IReadOnlyList<OverlapCondition> Overlap, IReadOnlyList<LayoutPrediction> Predictions, string RecommendedLayout, string Reason,
    IReadOnlyList<TenMillionAnswer> TenMillion);
