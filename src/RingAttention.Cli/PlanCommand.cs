using System.Text.Json;
using System.Text.Json.Serialization;
using RingAttention.Planning;

namespace RingAttention.Cli;

/// <summary>
/// <c>ringattn plan</c>: memory per rank, the smallest P that fits, the overlap condition per layout and direction,
/// the layout to use, predicted time and efficiency per P, and the ten-million-token question, from the cost model
/// (datasheet presets unless measured figures are given).
/// </summary>
internal static class PlanCommand
{
    /// <summary>Prints the plan; bad options throw <see cref="InvalidInputException"/> (exit 2 through the command runner).</summary>
    public static int Execute(PlanOptions options)
    {
        var plan = Planner.Make(Request(options));
        if (options.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(plan, new JsonSerializerOptions
            {
                WriteIndented = true,
                NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
                Converters = { new JsonStringEnumConverter() },
            }));
        }
        else
        {
            Print(plan, options);
        }
        return ExitCodes.Ok;
    }

    private static PlanRequest Request(PlanOptions options)
    {
        Require(options.SequenceLength >= 1, "--seq", "at least 1", options.SequenceLength);
        Require(options.Batch >= 1, "--batch", "at least 1", options.Batch);
        Require(options.Heads >= 1, "--heads", "at least 1", options.Heads);
        int kvHeads = options.KvHeads ?? options.Heads;
        Require(kvHeads >= 1 && options.Heads % kvHeads == 0, "--kv-heads", $"a divisor of --heads ({options.Heads})", kvHeads);
        Require(options.HeadDim is >= 1 and <= AttentionOptions.MaxHeadDim, "--head-dim", $"1 to {AttentionOptions.MaxHeadDim}", options.HeadDim);
        Require(options.Window is null || options.Window >= 1, "--window", "at least 1", options.Window ?? 0);
        Require(options.Window is null || options.Mask == PlanMask.Causal, "--window", "a causal mask (--mask causal)", "--mask full");
        Require(options.Layers >= 1, "--layers", "at least 1", options.Layers);
        Require(options.GpusPerNode >= 1, "--gpus-per-node", "at least 1", options.GpusPerNode);
        Require(options.MemoryFraction is > 0 and <= 1, "--memory-fraction", "a fraction in (0, 1]", options.MemoryFraction);
        Require(options.Ranks is null || (options.Ranks >= 1 && options.Ranks <= Math.Min(Planner.MaxPredictedRanks, options.SequenceLength)),
            "--ranks", $"1 to {Math.Min(Planner.MaxPredictedRanks, options.SequenceLength)}", options.Ranks ?? 0);

        var device = string.Equals(options.Device, "cpu", StringComparison.OrdinalIgnoreCase)
            ? MeasuredConstants.CpuFromBenchResults(options.BenchResults)
            : HardwarePresets.Device(options.Device);
        if (options.GpuReport is not null)
        {
            device = MeasuredConstants.FromGpuSelfTestReport(options.GpuReport, device);
        }
        if (options.KernelTflops is { } tflops)
        {
            Require(tflops > 0 && double.IsFinite(tflops), "--kernel-tflops", "a positive number", tflops);
            Require(device.Throughput is DatasheetThroughput, "--kernel-tflops", "a datasheet device (not with --device cpu or --gpu-report)", device.Key);
            var datasheet = (DatasheetThroughput)device.Throughput;
            double forward = tflops * 1e12 / datasheet.PeakFlopsPerSecond;
            device = device with
            {
                Throughput = datasheet with
                {
                    ForwardFraction = forward,
                    BackwardFraction = forward * datasheet.BackwardFraction / datasheet.ForwardFraction,
                    Source = $"{datasheet.Source}; forward kernel assumed at {tflops:G4} TFLOP/s (--kernel-tflops)",
                },
            };
        }
        var link = string.Equals(options.Link, "mpi", StringComparison.OrdinalIgnoreCase)
            ? MeasuredConstants.MpiLinkFromScalingResults(options.ScalingResults)
            : HardwarePresets.Link(options.Link, device);
        var interNode = HardwarePresets.Link(options.InterNodeLink, device);
        return new PlanRequest
        {
            Attention = new AttentionOptions
            {
                Batch = options.Batch, Heads = options.Heads, KvHeads = kvHeads, HeadDim = options.HeadDim,
                Causal = options.Mask == PlanMask.Causal, ElementType = options.ElementType,
            },
            SequenceLength = options.SequenceLength,
            Device = device,
            Link = link,
            InterNodeLink = interNode,
            Ranks = options.Ranks,
            Window = options.Window,
            Backward = options.Backward,
            Layers = options.Layers,
            MemoryFraction = options.MemoryFraction,
            GpusPerNode = options.GpusPerNode,
        };
    }

    private static void Require(bool condition, string option, string expected, object actual)
    {
        if (!condition)
        {
            throw new InvalidInputException(option, $"{option}: expected {expected}, actual {actual}");
        }
    }

    private static void Print(Plan plan, PlanOptions options)
    {
        string provenance = plan.DeviceProvenance == Provenance.Measured ? "measured" : "DATASHEET values, not measured by this project";
        Console.WriteLine($"problem  {plan.Problem}, {plan.Layers} layer(s)");
        Console.WriteLine($"device   {plan.Device} ({provenance}): {plan.DeviceSource}");
        Console.WriteLine($"link     {plan.Link}: {plan.LinkSource}");
        Console.WriteLine($"backward {(options.Backward ? "included" : "not included (--backward)")}; this runtime has no backward ring yet: every backward figure is MODELLED");
        Console.WriteLine();
        Console.WriteLine($"Memory per rank, one attention layer, busiest rank ({(options.Mask == PlanMask.Causal ? "zigzag" : "contiguous")}); budget {Gb(plan.BudgetBytes)} " +
            $"({options.MemoryFraction:P0} of the device; {plan.DeviceMemorySource}):");
        Console.WriteLine($"  smallest P that fits: forward {Ranks(plan.SmallestForwardRanks)}, forward+backward {Ranks(plan.SmallestForwardBackwardRanks)} (modelled)");
        Console.WriteLine($"  {"P",6} {"rows/rank",11} {"forward",11} {"fwd+bwd",11} {"decode K/V cache",17}");
        foreach (var m in plan.Memory)
        {
            Console.WriteLine($"  {m.Ranks,6} {m.RowsPerRank,11} {Gb(m.ForwardBytes),11} {Gb(m.ForwardBackwardBytes),11} {Gb(m.DecodeCacheBytes),17}");
        }
        Console.WriteLine();
        Console.WriteLine($"Overlap at P = {plan.ChosenRanks}: the exchange hides when c >= (Hkv/Hq)·(2b/4k)·(F/B) / f " +
            "(b bytes per K/V element on the wire, k = 1 forward, 2.5 backward; f the busiest rank's share of a block at the worst step):");
        Console.WriteLine($"  {"layout",-11} {"direction",-10} {"base tokens",12} {"f",6} {"required c",11} {"c = N/P",10}  hides");
        foreach (var o in plan.Overlap)
        {
            string direction = o.Direction == PassDirection.Backward ? "backward*" : "forward";
            Console.WriteLine($"  {o.Layout,-11} {direction,-10} {o.BaseTokens,12:F0} {o.WorstStepFraction,6:F3} {o.RequiredTokens,11:F0} {o.TokensPerRank,10:F0}  {(o.Hides ? "yes" : "NO")}");
        }
        Console.WriteLine("  (* modelled; latency and the masked kernel's speed are left out here and kept in the predictions below)");
        Console.WriteLine();
        Console.WriteLine("Predicted time per layer (per step: busiest rank's compute vs the exchange posted before it, on the real schedule):");
        Console.WriteLine($"  {"P",6} {"layout",-11} {"forward",10} {"backward*",10} {"efficiency",10} {"exposed",9} {"imbalance",10}  bound");
        foreach (var p in plan.Predictions)
        {
            double exposed = p.Forward.ExposedSeconds + (p.Backward?.ExposedSeconds ?? 0);
            double imbalance = p.Forward.ImbalanceSeconds + (p.Backward?.ImbalanceSeconds ?? 0);
            Console.WriteLine($"  {p.Ranks,6} {p.Layout,-11} {Planner.Seconds(p.Forward.PassSeconds),10} {(p.Backward is null ? "-" : Planner.Seconds(p.Backward.PassSeconds)),10} " +
                $"{p.Efficiency,10:P1} {Planner.Seconds(exposed),9} {Planner.Seconds(imbalance),10}  {p.Bound}");
        }
        if (plan.Layers > 1)
        {
            var best = plan.Predictions.Where(p => p.Ranks == plan.ChosenRanks && p.Layout == plan.RecommendedLayout).Single();
            Console.WriteLine($"  {plan.Layers} layers at P = {plan.ChosenRanks} ({plan.RecommendedLayout}): {Planner.Seconds(best.Seconds * plan.Layers)} of attention per pass");
        }
        var chosen = plan.Predictions.Single(p => p.Ranks == plan.ChosenRanks && p.Layout == plan.RecommendedLayout);
        foreach (var pass in new[] { chosen.Forward, chosen.Backward })
        {
            if (pass is not null)
            {
                PrintSteps(pass);
            }
        }
        Console.WriteLine();
        Console.WriteLine($"Use {plan.RecommendedLayout} at P = {plan.ChosenRanks}: {plan.Reason}");
        Console.WriteLine();
        Console.WriteLine($"Ten million tokens ({Planner.TenMillionTokens:N0}, Llama 4 Scout's context) with this shape, one layer; " +
            $"rings longer than {options.GpusPerNode} GPUs use whole nodes and cross {options.InterNodeLink}:");
        Console.WriteLine($"  {"device",-9} {"fits at P",9} {"ring P",7} {"link",-13} {"time/layer",11} {"GPU-s/layer",12} {"efficiency",10}  bound");
        foreach (var t in plan.TenMillion)
        {
            var p = t.Prediction;
            Console.WriteLine(p is null
                ? $"  {t.Device,-9} {Ranks(t.SmallestRanks),9} {"-",7} {t.Link,-13} {"-",11} {"-",12} {"-",10}  (beyond {Planner.MaxPredictedRanks} ranks)"
                : $"  {t.Device,-9} {Ranks(t.SmallestRanks),9} {t.Ranks,7} {t.Link,-13} {Planner.Seconds(p.Seconds),11} {p.Seconds * p.Ranks,12:F1} {p.Efficiency,10:P1}  {p.Bound}");
        }
        Console.WriteLine("  (datasheet devices; multiply by --layers for a whole model's attention)");
    }

    /// <summary>Which steps expose their exchange: every step for rings up to 16, a summary beyond.</summary>
    private static void PrintSteps(PassPrediction pass)
    {
        string direction = pass.Direction == PassDirection.Backward ? "backward* (modelled)" : "forward";
        Console.WriteLine();
        Console.WriteLine($"Steps of {pass.Layout} at P = {pass.Ranks}, {direction}: exchange exposed at {pass.ExposedSteps} of {pass.Steps.Count} steps" +
            (pass.ExposedSteps is > 0 and <= 16 ? $" ({string.Join(", ", pass.ExposedStepIndices)})" : ""));
        if (pass.Steps.Count > 16)
        {
            return;
        }
        Console.WriteLine($"  {"step",4} {"busiest",10} {"least busy",10} {"exchange",10} {"exposed",10}");
        foreach (var step in pass.Steps)
        {
            Console.WriteLine($"  {step.Step,4} {Planner.Seconds(step.MaxComputeSeconds),10} {Planner.Seconds(step.MinComputeSeconds),10} " +
                $"{(step.TransferSeconds > 0 ? Planner.Seconds(step.TransferSeconds) : "-"),10} {(step.ExposesCommunication ? Planner.Seconds(step.ExposedSeconds) : "-"),10}");
        }
    }

    private static string Ranks(int? ranks) => ranks?.ToString() ?? "none";

    private static string Gb(double bytes) => bytes >= 1e9 ? $"{bytes / 1e9:F2} GB" : $"{bytes / 1e6:F1} MB";
}
