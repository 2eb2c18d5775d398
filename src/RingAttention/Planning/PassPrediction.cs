using System.Text.Json.Serialization;

namespace RingAttention.Planning;

/// <summary>The model's figures for one ring step (the slowest rank sets the step).</summary>
/// <param name="Step">Step index s.</param>
/// <param name="MaxComputeSeconds">Compute of the busiest rank at this step.</param>
/// <param name="MinComputeSeconds">Compute of the least busy rank (the gap is the layout's imbalance).</param>
/// <param name="TransferSeconds">The longest exchange posted before this step's compute (the next step's K/V, and dK/dV backward); 0 at the last step.</param>
/// <param name="StepSeconds">The step's time: max over ranks of max(compute, transfer).</param>
public readonly record struct StepPrediction(int Step, double MaxComputeSeconds, double MinComputeSeconds, double TransferSeconds, double StepSeconds)
{
    /// <summary>Seconds the step waits on its exchange beyond the busiest rank's compute.</summary>
    public double ExposedSeconds => StepSeconds - MaxComputeSeconds;

    /// <summary>True when the exchange is not hidden behind the busiest rank's compute.</summary>
    public bool ExposesCommunication => ExposedSeconds > 0;
}

/// <summary>The model's prediction for one pass of one layout at one P.</summary>
/// <param name="Layout">Layout name.</param>
/// <param name="Ranks">P.</param>
/// <param name="Direction">Forward or backward (modelled).</param>
/// <param name="Steps">Per-step figures (left out of JSON: P entries per prediction).</param>
/// <param name="IdealSeconds">One device with unlimited memory running the whole problem as one kernel call.</param>
/// <param name="Flops">FLOPs of the pass (visible pairs × FLOPs per pair).</param>
public sealed record PassPrediction(string Layout, int Ranks, PassDirection Direction,
    [property: JsonIgnore] IReadOnlyList<StepPrediction> Steps, double IdealSeconds, double Flops)
{
    /// <summary>Predicted pass time: the sum of the step times (the critical path).</summary>
    public double PassSeconds => Steps.Sum(s => s.StepSeconds);

    /// <summary>Exchange time not hidden behind compute.</summary>
    public double ExposedSeconds => Steps.Sum(s => s.ExposedSeconds);

    /// <summary>Time lost to imbalance: Σ (busiest − least busy rank's compute).</summary>
    public double ImbalanceSeconds => Steps.Sum(s => s.MaxComputeSeconds - s.MinComputeSeconds);

    /// <summary>Parallel efficiency against the ideal device: ideal / (P × pass).</summary>
    public double Efficiency => IdealSeconds / (Ranks * PassSeconds);

    /// <summary>Steps whose exchange is exposed.</summary>
    public int ExposedSteps => Steps.Count(s => s.ExposesCommunication);

    /// <summary>The indices of the steps whose exchange is exposed.</summary>
    public IReadOnlyList<int> ExposedStepIndices => Steps.Where(s => s.ExposesCommunication).Select(s => s.Step).ToList();

    /// <summary>"bandwidth-bound" when exposed exchange is over 5% of the pass, else "compute-bound".</summary>
    public string Bound => ExposedSeconds > 0.05 * PassSeconds ? "bandwidth-bound" : "compute-bound";
}
