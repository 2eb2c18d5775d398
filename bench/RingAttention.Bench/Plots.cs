using ScottPlot;

namespace RingAttention.Bench;

/// <summary>The PNG plots: kernel throughput by shape (forward, then backward), ring overhead by P, memory per rank by N.</summary>
internal static class Plots
{
    private static readonly IPalette Palette = new ScottPlot.Palettes.Category10();

    /// <summary>Writes the plots that have data; returns their file names.</summary>
    public static List<string> Write(BenchResults results, string folder)
    {
        var written = new List<string>();
        if (results.Kernel.Count > 0)
        {
            written.Add(Save(KernelPlot(results), folder, "kernel.png", 1400, 560));
        }
        if (results.Backward.Kernel.Count > 0)
        {
            written.Add(Save(BackwardPlot.Create(results), folder, "backward.png", 1400, 560));
        }
        if (results.Ring.Count > 0)
        {
            written.Add(Save(RingPlot(results), folder, "ring-overhead.png", 800, 480));
        }
        if (results.Memory.Count > 0)
        {
            written.Add(Save(MemoryPlot(results), folder, "memory-per-rank.png", 800, 480));
        }
        return written;
    }

    private static string Save(Plot plot, string folder, string name, int width, int height)
    {
        plot.SavePng(Path.Combine(folder, name), width, height);
        return name;
    }

    private static Plot KernelPlot(BenchResults r)
    {
        var plot = new Plot();
        var shapes = r.Kernel.Select(k => (k.N, k.HeadDim, k.Causal)).Distinct().ToList();
        var series = r.Kernel.Select(k => (k.DType, k.Threads)).Distinct()
            .Select(s => (Label: $"{s.DType}, {s.Threads} thread{(s.Threads > 1 ? "s" : "")}",
                Value: (Func<(int N, int D, bool C), double?>)(shape => r.Kernel.FirstOrDefault(k => k.DType == s.DType && k.Threads == s.Threads
                    && k.N == shape.N && k.HeadDim == shape.D && k.Causal == shape.C)?.Gflops)))
            .Concat(r.PeerResults.Select(p => (p.Peer, p.Threads)).Distinct().Select(s => (Label: $"{s.Peer} fp32, {s.Threads} thread{(s.Threads > 1 ? "s" : "")}",
                Value: (Func<(int N, int D, bool C), double?>)(shape => r.PeerResults.FirstOrDefault(p => p.Peer == s.Peer && p.Threads == s.Threads
                    && p.N == shape.N && p.HeadDim == shape.D && p.Causal == shape.C)?.Gflops))))
            .ToList();
        double groupWidth = series.Count + 1;
        var bars = new List<Bar>();
        for (int s = 0; s < series.Count; s++)
        {
            var color = Palette.GetColor(s);
            for (int i = 0; i < shapes.Count; i++)
            {
                if (series[s].Value(shapes[i]) is { } value)
                {
                    bars.Add(new Bar { Position = i * groupWidth + s, Value = value, FillColor = color });
                }
            }
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[s].Label, FillColor = color });
        }
        plot.Add.Bars(bars);
        foreach (var (peak, i) in r.Peak.Select((peak, i) => (peak, i)))
        {
            var line = plot.Add.HorizontalLine(peak.Gflops);
            line.LinePattern = i == 0 ? LinePattern.Dashed : LinePattern.Dotted;
            line.LineColor = Colors.Gray;
            line.LineWidth = 2;
            plot.Legend.ManualItems.Add(new LegendItem
            {
                LabelText = $"FMA peak, {peak.Threads} thread{(peak.Threads > 1 ? "s" : "")} ({peak.Gflops:F0})",
                LineColor = Colors.Gray, LinePattern = line.LinePattern, LineWidth = 2,
            });
        }
        double[] ticks = shapes.Select((_, i) => i * groupWidth + (series.Count - 1) / 2.0).ToArray();
        string[] labels = shapes.Select(s => $"N={s.N} H={KernelBench.Heads(s.N)}\nD={s.HeadDim}{(s.Causal ? " causal" : "")}").ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks, labels);
        plot.Axes.Margins(bottom: 0, top: 0.15);
        plot.YLabel("GFLOP/s");
        plot.Title($"Block kernel against its peers ({r.Machine.Cpu}, {r.Machine.Cores} cores)");
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    private static Plot RingPlot(BenchResults r)
    {
        var plot = new Plot();
        int index = 0;
        foreach (bool causal in r.Ring.Select(x => x.Causal).Distinct())
        {
            var points = r.Ring.Where(x => x.Causal == causal).OrderBy(x => x.Ranks).ToList();
            var scatter = plot.Add.Scatter(points.Select(x => (double)x.Ranks).ToArray(), points.Select(x => x.OverheadPercent).ToArray());
            scatter.LegendText = causal ? "causal" : "non-causal";
            scatter.Color = Palette.GetColor(index++);
            scatter.MarkerSize = 8;
        }
        var target = plot.Add.HorizontalLine(5);
        target.LinePattern = LinePattern.Dashed;
        target.LineColor = Colors.Gray;
        target.LegendText = "5% target";
        var zero = plot.Add.HorizontalLine(0);
        zero.LineColor = Colors.Black;
        var first = r.Ring[0];
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            r.Ring.Select(x => (double)x.Ranks).Distinct().ToArray(), r.Ring.Select(x => x.Ranks.ToString()).Distinct().ToArray());
        plot.XLabel("ranks P (zigzag; P = 1 is the single-rank baseline)");
        plot.YLabel("time vs P = 1 (%)");
        plot.Title($"Ring overhead in emulation, N = {first.N}, H = {first.Heads}, D = {first.HeadDim}, same cores");
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    private static Plot MemoryPlot(BenchResults r)
    {
        var plot = new Plot();
        int index = 0;
        foreach (var type in r.Memory.Select(x => x.DType).Distinct())
        {
            var points = r.Memory.Where(x => x.DType == type).OrderBy(x => x.N).ToList();
            var scatter = plot.Add.Scatter(points.Select(x => Math.Log2(x.N)).ToArray(), points.Select(x => Math.Log2(x.RankMiB)).ToArray());
            scatter.LegendText = $"{type}: rank buffers";
            scatter.Color = Palette.GetColor(index++);
            scatter.MarkerSize = 8;
        }
        var ns = r.Memory.Select(x => x.N).Distinct().Order().ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ns.Select(n => Math.Log2(n)).ToArray(), ns.Select(Human).ToArray());
        double low = Math.Floor(Math.Log2(r.Memory.Min(x => x.RankMiB))), high = Math.Ceiling(Math.Log2(r.Memory.Max(x => x.RankMiB)));
        var yTicks = Enumerable.Range((int)low, (int)(high - low) + 1).Select(e => (double)e).ToArray();
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(yTicks, yTicks.Select(e => $"{Math.Pow(2, e):G4}").ToArray());
        plot.XLabel("sequence length N (log scale)");
        plot.YLabel("MiB per rank (log scale)");
        plot.Title($"Memory per rank, P = {r.Memory[0].Ranks}, D = {r.Memory[0].HeadDim}: linear in N / P");
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    private static string Human(int n) => n >= 1 << 20 && n % (1 << 20) == 0 ? $"{n >> 20}M" : n >= 1024 && n % 1024 == 0 ? $"{n >> 10}k" : n.ToString();
}
