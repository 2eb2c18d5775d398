using System.Text.Json;
using RingAttention.Layouts;

namespace RingAttention.Planning;

/// <summary>
/// The model against a measured scaling run: each run's critical path predicted from the run's own measured
/// constants (kernel FLOP/s by block size and mask; copy bandwidth for emulation, MPI bandwidth and cores shared by
/// P processes for MPI), in the run's direction (a backward run against the backward kernel's measured FLOP/s and the
/// backward's bytes: K, V and the travelling fp32 dK, dV), and the error measured / predicted − 1.
/// </summary>
public static class ScalingComparison
{
    /// <summary>The runs of <paramref name="file"/> with <see cref="ScalingRun.PredictedSeconds"/> filled in.</summary>
    public static List<ScalingRun> Predict(ScalingFile file)
    {
        var machine = new MeasuredThroughput(file.Kernel, "measured with the scaling run");
        var copy = MemoryCopyLink.Spec(file.CopyBytesPerSecond);
        return file.Runs.Select(run =>
        {
            bool mpi = run.Mode == "mpi";
            if (mpi && file.MpiBytesPerSecond is null)
            {
                return run;
            }
            var device = new DeviceSpec("cpu", file.Machine, double.MaxValue, mpi ? new SharedThroughput(machine, run.Ranks) : machine, null, "not used");
            var link = mpi ? new LinkSpec("mpi", "MPI", file.MpiBytesPerSecond!.Value, 0, Provenance.Measured, "measured") : copy;
            var kind = Enum.Parse<LayoutKind>(run.Layout, ignoreCase: true);
            var direction = run.Direction == PassDirection.Backward.Name() ? PassDirection.Backward : PassDirection.Forward;
            var prediction = new CostModel(device, link).Predict(run.Options(), run.SequenceLength, kind, run.Ranks, direction);
            return run with { PredictedSeconds = prediction.PassSeconds };
        }).ToList();
    }

    /// <summary>Reads a scaling file written by the bench.</summary>
    public static ScalingFile Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<ScalingFile>(File.ReadAllText(path))
                ?? throw new InvalidInputException(path, $"{path}: expected a scaling results object, actual null");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new InvalidInputException(path, $"{path}: cannot read a scaling results file: {e.Message}", e);
        }
    }

    /// <summary>Writes a scaling file (indented JSON).</summary>
    public static void Write(ScalingFile file, string path) =>
        File.WriteAllText(path, JsonSerializer.Serialize(file, new JsonSerializerOptions { WriteIndented = true }));
}
