namespace RingAttention.Planning;

/// <summary>Where a constant of the cost model comes from.</summary>
public enum Provenance
{
    /// <summary>A vendor datasheet or a published figure: not measured by this project.</summary>
    Datasheet,

    /// <summary>Measured by this project (the bench, a scaling run or a GPU self-test report).</summary>
    Measured,

    /// <summary>An assumption with no datasheet behind it (for example a link's latency); stated next to the figure.</summary>
    Assumed,
}
