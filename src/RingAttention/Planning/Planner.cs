using RingAttention.Layouts;

namespace RingAttention.Planning;

/// <summary>Answers <c>ringattn plan</c>: memory, smallest P, overlap conditions, predictions and the layout to use.</summary>
public static class Planner
{
    /// <summary>The largest P the planner derives a schedule for (the schedule costs O(P²) block pairs).</summary>
    public const int MaxPredictedRanks = 1024;

    /// <summary>The ten-million-token question's sequence length (Llama 4 Scout's context).</summary>
    public const int TenMillionTokens = 10_000_000;

    /// <summary>Makes the plan for <paramref name="request"/>.</summary>
    public static Plan Make(PlanRequest request)
    {
        var options = request.Attention;
        options.Validate();
        Guard.AtLeast(request.SequenceLength, 1);
        Guard.AtLeast(request.Layers, 1);
        Guard.That(request.Window is null || (options.Causal && request.Window >= 1), nameof(request.Window), "null, or at least 1 with a causal mask", request.Window);
        Guard.That(request.MemoryFraction is > 0 and <= 1, nameof(request.MemoryFraction), "a fraction in (0, 1]", request.MemoryFraction);
        var direction = request.Backward ? PassDirection.Backward : PassDirection.Forward;
        var layout = DefaultLayout(options);
        double budget = request.Device.MemoryBytes * request.MemoryFraction;
        int? forwardRanks = MemoryModel.SmallestFittingRanks(options, request.SequenceLength, layout, PassDirection.Forward, budget);
        int? backwardRanks = MemoryModel.SmallestFittingRanks(options, request.SequenceLength, layout, PassDirection.Backward, budget);
        int? fitting = request.Backward ? backwardRanks : forwardRanks;
        int chosen = request.Ranks ?? Math.Min(fitting ?? MaxPredictedRanks, MaxPredictedRanks);
        Guard.InRange(chosen, 1, Math.Min(MaxPredictedRanks, request.SequenceLength), nameof(request.Ranks));

        var model = new CostModel(request.Device, request.Link);
        var candidates = request.Ranks is { } fixedRanks ? [fixedRanks] : CandidateRanks(chosen, request.SequenceLength);
        var predictions = candidates.SelectMany(p => request.Layouts.Select(kind => Predict(model, options, request.SequenceLength, kind, p, request.Backward, request.Window))).ToList();
        var overlap = request.Layouts.SelectMany(kind =>
        {
            var work = StepWork.Derive(SequenceLayouts.Create(kind, request.SequenceLength, chosen), options.Causal, request.Window);
            return new[] { PassDirection.Forward, PassDirection.Backward }.Select(d => OverlapCondition.For(options, work, d, model));
        }).ToList();
        var memory = candidates.Select(p => MemoryModel.PerRank(options, request.SequenceLength, layout, p)).ToList();
        var atChosen = predictions.Where(p => p.Ranks == chosen).ToList();
        var (recommended, reason) = Recommend(options, request.Window, atChosen);
        return new Plan(
            Describe(options, request.SequenceLength, request.Window), request.Device.Name, request.Device.Throughput.Source, request.Device.Throughput.Provenance,
            request.Link.Name, request.Link.Source, request.Layers, budget, request.Device.MemorySource, forwardRanks, backwardRanks, chosen, memory, overlap, predictions,
            recommended, reason, TenMillion(request));
    }

    /// <summary>Predicts one layout at one P, forward and (when asked) backward, optionally with a causal sliding window.</summary>
    public static LayoutPrediction Predict(CostModel model, AttentionOptions options, int sequenceLength, LayoutKind kind, int ranks, bool backward, int? window = null)
    {
        var work = StepWork.Derive(SequenceLayouts.Create(kind, sequenceLength, ranks), options.Causal, window);
        var single = StepWork.Derive(SequenceLayouts.Create(LayoutKind.Contiguous, sequenceLength, 1), options.Causal, window);
        PassPrediction Pass(PassDirection d) => model.Predict(options, work, d, model.Compute(options, single.At(0, 0), d));
        return new LayoutPrediction(work.Layout.Name, ranks, Pass(PassDirection.Forward), backward ? Pass(PassDirection.Backward) : null);
    }

    /// <summary>The layout the memory figures use: zigzag when causal (what the plan usually recommends), else contiguous.</summary>
    private static LayoutKind DefaultLayout(AttentionOptions options) => options.Causal ? LayoutKind.Zigzag : LayoutKind.Contiguous;

    /// <summary>P itself and the powers of two above it, up to 16·P (and N, and the schedule limit).</summary>
    private static List<int> CandidateRanks(int smallest, int sequenceLength)
    {
        var ranks = new List<int> { smallest };
        for (int p = 1; p <= Math.Min(16L * smallest, Math.Min(sequenceLength, MaxPredictedRanks)); p *= 2)
        {
            if (p > smallest)
            {
                ranks.Add(p);
            }
        }
        return ranks;
    }

    /// <summary>The fastest layout at the chosen P, and why; ties (within 1%) go to the simplest layout.</summary>
    private static (string Layout, string Reason) Recommend(AttentionOptions options, int? window, IReadOnlyList<LayoutPrediction> atChosen)
    {
        double best = atChosen.Min(p => p.Seconds);
        // Listed contiguous, zigzag, striped: the first within 1% of the best is the simplest that is as fast.
        var pick = atChosen.First(p => p.Seconds <= best * 1.01);
        string others = string.Join(", ", atChosen.Where(p => p != pick).Select(p => $"{p.Layout} {Signed(100 * (p.Seconds / pick.Seconds - 1))}%"));
        string why = window is not null
            ? "sliding window: the ring still passes every block, so the exchange stays while compute shrinks to the window; the layout whose busiest rank computes least wins"
            : !options.Causal
            ? "without a mask every layout does the same work per step; contiguous keeps each rank's rows in one run (simplest, contiguous file reads)"
            : pick.Layout switch
            {
                "zigzag" => "causal: every rank computes half a block per step (balanced), with unmasked half-blocks the kernel runs at full speed",
                "striped" => "causal: balanced to one token per row",
                _ => "causal, yet the imbalance costs less than the other layouts here",
            };
        return (pick.Layout, $"{why}; predicted {Seconds(pick.Seconds)} per layer at P = {pick.Ranks} ({pick.Efficiency:P0} efficiency, {pick.Bound})" +
            (others.Length > 0 ? $"; {others}" : ""));
    }

    /// <summary>For every preset device: the smallest P that fits 10M tokens, rounded to whole nodes, and a pass's cost.</summary>
    private static List<TenMillionAnswer> TenMillion(PlanRequest request)
    {
        var options = request.Attention;
        var direction = request.Backward ? PassDirection.Backward : PassDirection.Forward;
        var layout = DefaultLayout(options);
        var answers = new List<TenMillionAnswer>();
        foreach (var device in HardwarePresets.Devices)
        {
            int? smallest = MemoryModel.SmallestFittingRanks(options, TenMillionTokens, layout, direction, device.MemoryBytes * request.MemoryFraction);
            var intraNode = HardwarePresets.Link("nvlink", device);
            if (smallest is not { } p || p > MaxPredictedRanks)
            {
                answers.Add(new TenMillionAnswer(device.Key, smallest, null, intraNode.Key, null));
                continue;
            }
            int ranks = p <= request.GpusPerNode ? p : (p + request.GpusPerNode - 1) / request.GpusPerNode * request.GpusPerNode;
            var link = ranks <= request.GpusPerNode ? intraNode : request.InterNodeLink ?? HardwarePresets.Link("ib-ndr", device);
            var prediction = Predict(new CostModel(device, link), options, TenMillionTokens, layout, ranks, request.Backward, request.Window);
            answers.Add(new TenMillionAnswer(device.Key, smallest, ranks, link.Key, prediction));
        }
        return answers;
    }

    /// <summary>The problem in one line.</summary>
    public static string Describe(AttentionOptions options, int sequenceLength, int? window = null) =>
        $"N={sequenceLength} batch={options.Batch} heads={options.Heads} kv_heads={options.EffectiveKvHeads} head_dim={options.HeadDim} " +
        $"dtype={ElementTypes.ShortName(options.ElementType)} causal={options.Causal}{(window is { } w ? $" window={w}" : "")}";

    /// <summary>Seconds in a readable unit (µs, ms, s, min, h).</summary>
    public static string Seconds(double seconds) => seconds switch
    {
        < 1e-3 => $"{seconds * 1e6:F1} µs",
        < 1 => $"{seconds * 1e3:F2} ms",
        < 120 => $"{seconds:F2} s",
        < 7200 => $"{seconds / 60:F1} min",
        _ => $"{seconds / 3600:F1} h",
    };

    private static string Signed(double value) => value >= 0 ? $"+{value:F1}" : $"{value:F1}";
}
