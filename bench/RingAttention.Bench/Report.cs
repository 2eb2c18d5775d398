using System.Globalization;
using System.Text;
using System.Text.Json;

namespace RingAttention.Bench;

/// <summary>The bench's outputs: results.json (everything), results.md (the tables README shows).</summary>
internal static class Report
{
    public static void WriteJson(BenchResults results, string path) =>
        File.WriteAllText(path, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));

    public static string Markdown(BenchResults r)
    {
        var md = new StringBuilder();
        var m = r.Machine;
        md.AppendLine($"Command: `{r.Command}`  ");
        md.AppendLine($"Date: {m.Date}; machine: {m.Cpu}, {m.Cores} cores, {m.Simd}; caches {m.Caches}; {m.Runtime}, {m.Os}  ");
        md.AppendLine($"Load average (1/5/15 min) at start: {m.LoadAtStart}; at end: {r.LoadAtEnd}. Bench time {r.TotalSeconds:F0} s.");
        md.AppendLine();
        if (double.TryParse(m.LoadAtStart.Split(' ')[0], CultureInfo.InvariantCulture, out double load) && load > 0.5)
        {
            md.AppendLine($"**Other processes were using the cores (load {load:F1} on {m.Cores} cores): every figure below is a lower bound; " +
                "rerun on a quiet machine for the machine's own figures.**");
            md.AppendLine();
        }
        md.AppendLine($"FMA peak (independent FMA chains in the widest accelerated tier, {m.Simd}; best of its runs at the start and at the end): " +
            string.Join(", ", r.Peak.Select(p => $"**{F(p.Gflops)} GFLOP/s** on {p.Threads} thread{(p.Threads > 1 ? "s" : "")}")) + ".");
        md.AppendLine();

        md.Append(Summary(r));

        if (r.Kernel.Count > 0)
        {
            md.AppendLine("Block kernel (one call: all N queries × all N keys; FLOPs 4·N²·H·D, halved when causal; best of the repeats). Peers: " +
                string.Join("; ", r.Peers.Select(p => $"{p.Name}: {p.Description}")) + ".");
            md.AppendLine();
            var types = r.Kernel.Select(k => k.DType).Distinct().ToList();
            var threads = r.Kernel.Select(k => k.Threads).Distinct().OrderDescending().ToList();
            md.Append("| N | H | D | causal |");
            var columns = new List<(string Header, Func<int, int, bool, string> Cell)>();
            foreach (int t in threads)
            {
                foreach (var type in types.Where(type => r.Kernel.Any(k => k.DType == type && k.Threads == t)))
                {
                    columns.Add(($"{type} {t}T GFLOP/s (% peak)", (n, d, c) => r.Kernel.FirstOrDefault(k => k.DType == type && k.Threads == t && k.N == n && k.HeadDim == d && k.Causal == c)
                        is { } k ? $"{F(k.Gflops)} ({k.PercentOfPeak:F0}%)" : ""));
                }
                foreach (string peer in r.PeerResults.Where(p => p.Threads == t).Select(p => p.Peer).Distinct())
                {
                    columns.Add(($"{peer} {t}T GFLOP/s", (n, d, c) => PeerAt(r, peer, t, n, d, c) is { } p ? F(p.Gflops) : ""));
                    columns.Add(($"fp32 {t}T vs {peer}", (n, d, c) =>
                    {
                        var k = r.Kernel.FirstOrDefault(k => k.DType == "fp32" && k.Threads == t && k.N == n && k.HeadDim == d && k.Causal == c);
                        return k is not null && PeerAt(r, peer, t, n, d, c) is { } p ? $"{k.Gflops / p.Gflops:F2}×" : "";
                    }));
                }
            }
            md.AppendLine(string.Concat(columns.Select(c => $" {c.Header} |")));
            md.AppendLine("|---:|---:|---:|:---:|" + string.Concat(columns.Select(_ => "---:|")));
            foreach (var shape in r.Kernel.Select(k => (k.N, k.Heads, k.HeadDim, k.Causal)).Distinct())
            {
                md.Append($"| {shape.N} | {shape.Heads} | {shape.HeadDim} | {(shape.Causal ? "yes" : "no")} |");
                md.AppendLine(string.Concat(columns.Select(c => $" {c.Cell(shape.N, shape.HeadDim, shape.Causal)} |")));
            }
            md.AppendLine();
        }

        md.Append(BackwardReport.Markdown(r));

        if (r.Ring.Count > 0)
        {
            var first = r.Ring[0];
            md.AppendLine($"Ring overhead in emulation: N = {first.N}, H = {first.Heads}, D = {first.HeadDim}, fp32, all P ranks on the same " +
                "backend and cores; overhead = time(P) / time(P = 1) − 1 (best of the repeats, taken in rounds over all P). CPU s is the " +
                "process's CPU time over the best run: about 2 × time when the bench had both cores.");
            md.AppendLine();
            md.AppendLine("| causal | P | layout | time s | GFLOP/s | overhead | CPU s | CPU-time overhead | kernel calls | exposed wait s | sent MiB |");
            md.AppendLine("|:---:|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var x in r.Ring)
            {
                md.AppendLine($"| {(x.Causal ? "yes" : "no")} | {x.Ranks} | {x.Layout} | {x.Seconds:F3} | {F(x.Gflops)} | " +
                    $"{(x.Ranks == 1 ? "baseline" : $"{Report.Signed(x.OverheadPercent)}%")} | {x.CpuSeconds:F2} | " +
                    $"{(x.Ranks == 1 ? "baseline" : $"{Report.Signed(x.CpuOverheadPercent)}%")} | {x.KernelCalls} | {x.ExposedWaitSeconds:F3} | {x.SentMiB:F0} |");
            }
            md.AppendLine();
        }

        if (r.Memory.Count > 0)
        {
            var first = r.Memory[0];
            md.AppendLine($"Memory per rank against N (P = {first.Ranks}, zigzag, H = {first.Heads}, D = {first.HeadDim}): the rank's buffers " +
                "(RankReport.BytesHeld: Q, K, V, O, LSE shards, two K/V receive buffers, fp32 running state) and the kernel's K/V panels " +
                "for its largest call (per device).");
            md.AppendLine();
            md.AppendLine("| dtype | N | rows per rank | rank MiB | bytes per local row | kernel panels MiB |");
            md.AppendLine("|:---|---:|---:|---:|---:|---:|");
            foreach (var x in r.Memory)
            {
                md.AppendLine($"| {x.DType} | {x.N} | {x.LocalRows} | {x.RankMiB:F1} | {x.BytesPerLocalRow:F0} | {x.KernelPanelsMiB:F1} |");
            }
            md.AppendLine();
        }
        return md.ToString();
    }

    /// <summary>The figures the issue's targets are stated in, read off the tables below.</summary>
    private static string Summary(BenchResults r)
    {
        var lines = new List<string>();
        int allCores = r.Kernel.Count > 0 ? r.Kernel.Max(k => k.Threads) : 0;
        var fp32 = r.Kernel.Where(k => k.DType == "fp32" && k.Threads == allCores).ToList();
        if (fp32.Count > 0)
        {
            int n = fp32.Max(k => k.N);
            foreach (int d in fp32.Select(k => k.HeadDim).Distinct().OrderDescending())
            {
                var best = fp32.Where(k => k.N == n && k.HeadDim == d).MaxBy(k => k.Gflops)!;
                lines.Add($"fp32 kernel, {allCores} threads, N = {n}, head_dim {d}: best {F(best.Gflops)} GFLOP/s ({best.PercentOfPeak:F0}% of the measured FMA peak)");
            }
            var sixteenBit = r.Kernel.Where(k => k.DType != "fp32" && k.Threads == allCores).ToList();
            if (sixteenBit.Count > 0)
            {
                double worst = sixteenBit.Min(k => k.Gflops / fp32.First(f => f.N == k.N && f.HeadDim == k.HeadDim && f.Causal == k.Causal).Gflops);
                lines.Add($"bf16/fp16 storage against fp32, same shape and threads: slowest ratio {worst:F2}");
            }
            foreach (var peer in r.PeerResults.Where(p => p.Threads == allCores).GroupBy(p => p.Peer))
            {
                double slowest = peer.Min(p => fp32.First(f => f.N == p.N && f.HeadDim == p.HeadDim && f.Causal == p.Causal).Gflops / p.Gflops);
                lines.Add($"fp32 kernel against {peer.Key}, {allCores} threads: {slowest:F2}× on its weakest shape");
            }
            if (r.PeerResults.Select(p => p.Peer).Distinct().Count() > 1)
            {
                // Against the faster peer shape by shape: the figure the target (≥ 1.1× on every shape) is stated in.
                var ratios = fp32.Where(f => r.PeerResults.Any(p => p.Threads == allCores && p.N == f.N && p.HeadDim == f.HeadDim && p.Causal == f.Causal))
                    .Select(f => f.Gflops / r.PeerResults.Where(p => p.Threads == allCores && p.N == f.N && p.HeadDim == f.HeadDim && p.Causal == f.Causal).Max(p => p.Gflops))
                    .ToList();
                lines.Add($"fp32 kernel against the faster peer on each shape, {allCores} threads: {ratios.Min():F2}× at worst");
            }
        }
        if (r.Ring.Any(x => x.Ranks > 1))
        {
            var worst = r.Ring.Where(x => x.Ranks > 1).MaxBy(x => x.OverheadPercent)!;
            lines.Add($"ring overhead in emulation: largest {Signed(worst.OverheadPercent)}% (P = {worst.Ranks}, {(worst.Causal ? "causal" : "non-causal")}; " +
                $"CPU time {Signed(worst.CpuOverheadPercent)}%)");
        }
        return lines.Count == 0 ? "" : "Summary:\n" + string.Concat(lines.Select(line => $"- {line}\n")) + "\n";
    }

    private static PeerResult? PeerAt(BenchResults r, string peer, int threads, int n, int headDim, bool causal) =>
        r.PeerResults.FirstOrDefault(p => p.Peer == peer && p.Threads == threads && p.N == n && p.HeadDim == headDim && p.Causal == causal);

    private static string F(double value) => value.ToString("F0", CultureInfo.InvariantCulture);

    /// <summary>A percentage with its sign, one decimal (−0.04 prints as +0.0, not −0.0).</summary>
    public static string Signed(double percent)
    {
        double rounded = Math.Round(percent, 1);
        return (rounded < 0 ? "-" : "+") + Math.Abs(rounded).ToString("F1", CultureInfo.InvariantCulture);
    }
}
