using ScottPlot;

namespace RingAttention.Bench;

/// <summary>backward.png: backward kernel GFLOP/s by shape, the forward kernel's beside it, the backward peer when it ran.</summary>
internal static class BackwardPlot
{
    private static readonly IPalette Palette = new ScottPlot.Palettes.Category10();

    public static Plot Create(BenchResults r)
    {
        var b = r.Backward;
        var plot = new Plot();
        var shapes = b.Kernel.Select(k => (k.N, k.Heads, k.HeadDim, k.Causal)).Distinct().ToList();
        var series = new List<(string Label, Func<(int N, int H, int D, bool C), double?> Value)>();
        foreach (var type in b.Kernel.Select(k => k.DType).Distinct())
        {
            series.Add(($"{type} backward", s => At(b, type, s)?.Gflops));
            series.Add(($"{type} forward", s => At(b, type, s)?.ForwardGflops));
        }
        if (b.PeerResults.Count > 0)
        {
            series.Add(($"{b.Peer} fp32 backward", s => b.PeerResults.FirstOrDefault(p => p.N == s.N && p.Heads == s.H && p.HeadDim == s.D && p.Causal == s.C)?.Gflops));
        }
        double groupWidth = series.Count + 1;
        var bars = new List<Bar>();
        for (int i = 0; i < series.Count; i++)
        {
            var color = Palette.GetColor(i);
            for (int j = 0; j < shapes.Count; j++)
            {
                if (series[i].Value(shapes[j]) is { } value)
                {
                    bars.Add(new Bar { Position = j * groupWidth + i, Value = value, FillColor = color });
                }
            }
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[i].Label, FillColor = color });
        }
        plot.Add.Bars(bars);
        int threads = b.Kernel.Max(k => k.Threads);
        if (r.Peak.FirstOrDefault(p => p.Threads == threads) is { } peak)
        {
            var line = plot.Add.HorizontalLine(peak.Gflops);
            line.LinePattern = LinePattern.Dashed;
            line.LineColor = Colors.Gray;
            line.LineWidth = 2;
            plot.Legend.ManualItems.Add(new LegendItem
            {
                LabelText = $"FMA peak, {threads} thread{(threads > 1 ? "s" : "")} ({peak.Gflops:F0})", LineColor = Colors.Gray, LinePattern = line.LinePattern, LineWidth = 2,
            });
        }
        double[] ticks = shapes.Select((_, j) => j * groupWidth + (series.Count - 1) / 2.0).ToArray();
        string[] labels = shapes.Select(s => $"N={s.N} H={s.Heads}\nD={s.HeadDim}{(s.Causal ? " causal" : "")}").ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks, labels);
        plot.Axes.Margins(bottom: 0, top: 0.15);
        plot.YLabel("GFLOP/s (backward: 2.5 × forward FLOPs)");
        plot.Title($"Backward block kernel next to the forward, {threads} thread{(threads > 1 ? "s" : "")} ({r.Machine.Cpu}, {r.Machine.Cores} cores)");
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    private static BackwardResult? At(BackwardSection b, string type, (int N, int H, int D, bool C) s) =>
        b.Kernel.FirstOrDefault(k => k.DType == type && k.N == s.N && k.Heads == s.H && k.HeadDim == s.D && k.Causal == s.C);
}
