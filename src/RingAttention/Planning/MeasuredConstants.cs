using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace RingAttention.Planning;

/// <summary>
/// The model's constants read from this project's measurements: the bench's <c>results.json</c> (CPU kernel
/// GFLOP/s by dtype, head_dim, causal and N), a scaling run's JSON (MPI link bandwidth: bytes sent ÷ exchange
/// time, a lower bound) and a <c>launch/gpu-selftest.sh</c> report (its <c>bench-gpu</c> table: bf16 TFLOP/s by head_dim, N, causal).
/// </summary>
public static partial class MeasuredConstants
{
    /// <summary>
    /// The CPU of a bench run as a device: kernel throughput from the run's all-cores rows, memory
    /// <paramref name="memoryBytes"/> (this process's available memory when null).
    /// </summary>
    public static DeviceSpec CpuFromBenchResults(string path, double? memoryBytes = null)
    {
        using var document = ReadJson(path);
        var root = document.RootElement;
        string cpu = root.TryGetProperty("Machine", out var machine) && machine.TryGetProperty("Cpu", out var model) ? model.GetString() ?? "CPU" : "CPU";
        if (!root.TryGetProperty("Kernel", out var kernel) || kernel.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidInputException(path, $"{path}: expected a bench results file with a \"Kernel\" array, actual none");
        }
        var rows = kernel.EnumerateArray().Select(k => (
            Threads: k.GetProperty("Threads").GetInt32(),
            Measurement: new KernelMeasurement(ParseType(k.GetProperty("DType").GetString(), path), k.GetProperty("HeadDim").GetInt32(),
                k.GetProperty("Causal").GetBoolean(), k.GetProperty("N").GetInt32(), k.GetProperty("Gflops").GetDouble() * 1e9))).ToList();
        if (rows.Count == 0)
        {
            throw new InvalidInputException(path, $"{path}: expected kernel measurements, actual an empty \"Kernel\" array");
        }
        int threads = rows.Max(r => r.Threads);
        var throughput = new MeasuredThroughput(rows.Where(r => r.Threads == threads).Select(r => r.Measurement),
            $"measured: {path} ({cpu}, {threads} threads; backward modelled at the forward's FLOP/s)");
        double memory = memoryBytes ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return new DeviceSpec("cpu", cpu, memory, throughput, null, memoryBytes is null ? "this machine's available memory" : "given");
    }

    /// <summary>
    /// <paramref name="device"/> with its kernel throughput replaced by a GPU self-test report's <c>bench-gpu</c>
    /// table (bf16 forward; backward modelled at the datasheet's backward/forward ratio when the preset has one).
    /// </summary>
    public static DeviceSpec FromGpuSelfTestReport(string path, DeviceSpec device)
    {
        if (!File.Exists(path))
        {
            throw new InvalidInputException(path, $"{path}: expected a gpu-selftest report, actual no such file");
        }
        var measurements = new List<KernelMeasurement>();
        foreach (string line in File.ReadLines(path))
        {
            var match = BenchGpuRow().Match(line);
            if (match.Success)
            {
                measurements.Add(new KernelMeasurement(ElementType.BFloat16, int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture),
                    bool.Parse(match.Groups[3].Value), long.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture),
                    double.Parse(match.Groups[4].Value, CultureInfo.InvariantCulture) * 1e12));
            }
        }
        if (measurements.Count == 0)
        {
            throw new InvalidInputException(path, $"{path}: expected the bench-gpu table of a gpu-selftest report, actual no row");
        }
        double backwardRatio = device.Throughput is DatasheetThroughput d ? d.BackwardFraction / d.ForwardFraction : 1.0;
        return device with { Throughput = new ScaledBackwardThroughput(new MeasuredThroughput(measurements, $"measured: {path}"), backwardRatio) };
    }

    /// <summary>A measured link from a scaling run's file: its MPI bandwidth (the fastest MPI run's bytes sent ÷ exchange time).</summary>
    public static LinkSpec MpiLinkFromScalingResults(string path)
    {
        var file = ScalingComparison.Read(path);
        double bytesPerSecond = file.MpiBytesPerSecond
            ?? throw new InvalidInputException(path, $"{path}: expected MPI runs with observed exchange times, actual none (run the scaling bench with --modes mpi)");
        return new LinkSpec("mpi", "MPI on this machine (shared memory)", bytesPerSecond, 0, Provenance.Measured,
            $"measured: {path} (fastest MPI run's bytes sent ÷ exchange time, a lower bound; {file.Machine})");
    }

    private static JsonDocument ReadJson(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException(path, $"{path}: cannot read: {e.Message}", e);
        }
        catch (JsonException e)
        {
            throw new InvalidInputException(path, $"{path}: not valid JSON: {e.Message}", e);
        }
    }

    private static ElementType ParseType(string? name, string path) => name switch
    {
        "fp32" => ElementType.Float32,
        "bf16" => ElementType.BFloat16,
        "fp16" => ElementType.Float16,
        _ => throw new InvalidInputException(path, $"{path}: DType: expected fp32, bf16 or fp16, actual '{name}'"),
    };

    /// <summary>A bench-gpu row: head_dim, N, causal, B, H, kernel, ms, TFLOP/s, % peak.</summary>
    [GeneratedRegex(@"^\s*(\d+)\s+(\d+)\s+(True|False)\s+\d+\s+\d+\s+\S+\s+[\d.]+\s+([\d.]+)\s+\S+\s*$")]
    private static partial Regex BenchGpuRow();
}
