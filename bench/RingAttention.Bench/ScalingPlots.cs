using RingAttention.Planning;
using ScottPlot;

namespace RingAttention.Bench;

/// <summary>
/// The scaling plots: time and efficiency against P (measured, with the model dotted), exchange exposed vs hidden, and
/// per-rank work by layout (forward runs: mpi backward runs report no per-rank figures). Backward runs are series of
/// their own, labelled "backward".
/// </summary>
internal static class ScalingPlots
{
    private static readonly IPalette Palette = new ScottPlot.Palettes.Category10();

    /// <summary>Writes the plots that have data; returns their file names.</summary>
    public static List<string> Write(ScalingFile f, string folder)
    {
        var written = new List<string>();
        var strong = f.Runs.Where(r => r.Scaling == "strong").ToList();
        if (strong.Count > 0)
        {
            written.Add(Save(TimePlot(strong), folder, "scaling-time.png"));
            written.Add(Save(BalancePlot(strong), folder, "scaling-balance.png"));
        }
        var all = f.Runs.ToList();
        if (all.Count > 0)
        {
            written.Add(Save(EfficiencyPlot(all), folder, "scaling-efficiency.png"));
            written.Add(Save(ExchangePlot(all), folder, "scaling-exchange.png"));
        }
        return written;
    }

    private static string Save(Plot plot, string folder, string name)
    {
        plot.SavePng(Path.Combine(folder, name), 1000, 600);
        return name;
    }

    private static IEnumerable<IGrouping<(string Mode, string Direction, bool Causal, string Layout), ScalingRun>> Series(IEnumerable<ScalingRun> runs) =>
        runs.Where(r => r.Ranks > 1).GroupBy(r => (r.Mode, r.Direction, r.Causal, r.Layout));

    private static string Label((string Mode, string Direction, bool Causal, string Layout) key) =>
        $"{key.Mode}, {(key.Direction == "backward" ? "backward, " : "")}{(key.Causal ? "causal" : "full")}, {key.Layout}";

    /// <summary>P = 1's run heads every layout's series (it is the same run for all).</summary>
    private static List<ScalingRun> WithBaseline(IEnumerable<ScalingRun> series, List<ScalingRun> all, string scaling,
        (string Mode, string Direction, bool Causal, string Layout) key) =>
        all.Where(r => r.Scaling == scaling && r.Mode == key.Mode && r.Direction == key.Direction && r.Causal == key.Causal && r.Ranks == 1)
            .Concat(series).OrderBy(r => r.Ranks).ToList();

    private static Plot TimePlot(List<ScalingRun> strong)
    {
        var plot = new Plot();
        int index = 0;
        foreach (var group in Series(strong))
        {
            var points = WithBaseline(group, strong, "strong", group.Key);
            var color = Palette.GetColor(index++);
            var measured = plot.Add.Scatter(points.Select(r => Math.Log2(r.Ranks)).ToArray(), points.Select(r => Math.Log2(r.CriticalPathSeconds)).ToArray());
            measured.LegendText = Label(group.Key);
            measured.Color = color;
            var modelled = points.Where(r => r.PredictedSeconds is not null).ToList();
            if (modelled.Count > 0)
            {
                var model = plot.Add.Scatter(modelled.Select(r => Math.Log2(r.Ranks)).ToArray(), modelled.Select(r => Math.Log2(r.PredictedSeconds!.Value)).ToArray());
                model.Color = color;
                model.LinePattern = LinePattern.Dotted;
                model.MarkerSize = 0;
            }
        }
        LogTicks(plot, strong);
        plot.YLabel("critical path, log2 seconds (dotted: model)");
        plot.Title($"Strong scaling, N = {strong[0].SequenceLength}, H = {strong[0].Heads}, D = {strong[0].HeadDim}");
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    private static Plot EfficiencyPlot(List<ScalingRun> runs)
    {
        var plot = new Plot();
        int index = 0;
        foreach (string scaling in runs.Select(r => r.Scaling).Distinct())
        {
            var ofScaling = runs.Where(r => r.Scaling == scaling).ToList();
            foreach (var group in Series(ofScaling))
            {
                var points = WithBaseline(group, runs, scaling, group.Key).Where(r => !double.IsNaN(r.Efficiency)).ToList();
                var line = plot.Add.Scatter(points.Select(r => Math.Log2(r.Ranks)).ToArray(), points.Select(r => 100 * r.Efficiency).ToArray());
                line.LegendText = $"{scaling}: {Label(group.Key)}";
                line.Color = Palette.GetColor(index++);
                line.LinePattern = scaling == "weak" ? LinePattern.Dashed : LinePattern.Solid;
            }
        }
        LogTicks(plot, runs);
        plot.YLabel("parallel efficiency % (critical path)");
        plot.Title("Efficiency against P (solid: strong, dashed: weak)");
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    private static Plot ExchangePlot(List<ScalingRun> runs)
    {
        var plot = new Plot();
        var keys = runs.Where(r => r.Ranks > 1).Select(r => (r.Scaling, r.Mode, r.Direction, r.Causal, r.Layout, r.Ranks)).Distinct().ToList();
        var bars = new List<Bar>();
        for (int i = 0; i < keys.Count; i++)
        {
            var r = runs.First(x => (x.Scaling, x.Mode, x.Direction, x.Causal, x.Layout, x.Ranks) == keys[i]);
            bars.Add(new Bar { Position = i, ValueBase = 0, Value = 1e3 * r.ExposedSeconds, FillColor = Palette.GetColor(3) });
            bars.Add(new Bar { Position = i, ValueBase = 1e3 * r.ExposedSeconds, Value = 1e3 * (r.ExposedSeconds + (r.HiddenSeconds ?? 0) / r.Ranks), FillColor = Palette.GetColor(2) });
        }
        plot.Add.Bars(bars);
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "exposed (critical path)", FillColor = Palette.GetColor(3) });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "hidden behind compute (mean per rank, observed by MPI)", FillColor = Palette.GetColor(2) });
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(Enumerable.Range(0, keys.Count).Select(i => (double)i).ToArray(),
            keys.Select(k => $"{k.Scaling[0]} {k.Mode[..3]} {k.Direction[..3]} {(k.Causal ? "c" : "f")} {k.Layout[..3]} P{k.Ranks}").ToArray());
        plot.Axes.Bottom.TickLabelStyle.Rotation = -90;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
        plot.Axes.Bottom.MinimumSize = 120;
        plot.YLabel("exchange time, ms");
        plot.Title("Exchange: exposed vs hidden (s/w = strong/weak, emu/mpi, for/bac = forward/backward, c/f = causal/full)");
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    private static Plot BalancePlot(List<ScalingRun> strong)
    {
        var plot = new Plot();
        int largest = strong.Max(r => r.Ranks);
        var runs = strong.Where(r => r.Ranks == largest && r.Causal && r.Direction == "forward").GroupBy(r => r.Layout).Select(g => g.OrderBy(r => r.Mode == "emulation" ? 0 : 1).First()).ToList();
        var bars = new List<Bar>();
        for (int l = 0; l < runs.Count; l++)
        {
            for (int rank = 0; rank < runs[l].RankComputeSeconds.Count; rank++)
            {
                bars.Add(new Bar { Position = l * (largest + 1) + rank, Value = runs[l].RankComputeSeconds[rank], FillColor = Palette.GetColor(l) });
            }
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = $"{runs[l].Layout} ({runs[l].Mode})", FillColor = Palette.GetColor(l) });
        }
        plot.Add.Bars(bars);
        plot.XLabel($"rank 0 … {largest - 1}, grouped by layout");
        plot.YLabel("compute seconds per rank");
        plot.Title($"Per-rank work by layout, causal, P = {largest}, N = {strong[0].SequenceLength} (strong)");
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    private static void LogTicks(Plot plot, IEnumerable<ScalingRun> runs)
    {
        var ranks = runs.Select(r => r.Ranks).Distinct().Order().ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ranks.Select(p => Math.Log2(p)).ToArray(), ranks.Select(p => p.ToString()).ToArray());
        plot.XLabel("ranks P (log scale)");
    }
}
