using System.Globalization;
using System.Text;

namespace RingAttention.Bench;

/// <summary>The backward kernel section of results.md: a summary line and one table, next to the forward figures.</summary>
internal static class BackwardReport
{
    public static string Markdown(BenchResults r)
    {
        var b = r.Backward;
        if (b.Kernel.Count == 0)
        {
            return "";
        }
        var md = new StringBuilder();
        int threads = b.Kernel.Max(k => k.Threads);
        var fp32 = b.Kernel.Where(k => k.DType == "fp32").ToList();
        if (fp32.Count > 0)
        {
            int n = fp32.Max(k => k.N);
            var best = fp32.Where(k => k.N == n).MaxBy(k => k.Gflops)!;
            md.AppendLine($"Backward summary: fp32 backward kernel, {threads} threads, N = {n}: best {F(best.Gflops)} GFLOP/s " +
                $"({best.PercentOfPeak:F0}% of the measured FMA peak; head_dim {best.HeadDim}{(best.Causal ? ", causal" : "")}); " +
                $"backward/forward throughput {fp32.Min(k => k.Gflops / k.ForwardGflops):F2}–{fp32.Max(k => k.Gflops / k.ForwardGflops):F2} over the shapes.");
            md.AppendLine();
        }
        md.AppendLine($"Backward block kernel ({threads} threads; preprocess D = rowsum(dO ∘ O) + one call over all N queries × all N keys; " +
            "FLOPs 2.5 × the forward's: 10·N²·H·D, halved when causal; best of the repeats), next to the forward kernel on the same shape. " +
            $"{b.Peer} peer: {b.PeerDescription}.");
        md.AppendLine();
        var types = b.Kernel.Select(k => k.DType).Distinct().ToList();
        var columns = new List<(string Header, Func<BackwardShape, string> Cell)>();
        foreach (var type in types)
        {
            columns.Add(($"{type} backward GFLOP/s (% peak)", s => At(b, type, s) is { } k ? $"{F(k.Gflops)} ({k.PercentOfPeak:F0}%)" : ""));
            columns.Add(($"{type} forward GFLOP/s", s => At(b, type, s) is { } k ? F(k.ForwardGflops) : ""));
            columns.Add(($"{type} backward/forward", s => At(b, type, s) is { } k ? $"{k.Gflops / k.ForwardGflops:F2}" : ""));
        }
        if (b.PeerResults.Count > 0)
        {
            columns.Add(($"{b.Peer} backward GFLOP/s", s => PeerAt(b, s) is { } p ? F(p.Gflops) : ""));
            columns.Add(($"fp32 backward vs {b.Peer}", s => At(b, "fp32", s) is { } k && PeerAt(b, s) is { } p ? $"{k.Gflops / p.Gflops:F2}×" : ""));
        }
        md.AppendLine("| N | H | D | causal |" + string.Concat(columns.Select(c => $" {c.Header} |")));
        md.AppendLine("|---:|---:|---:|:---:|" + string.Concat(columns.Select(_ => "---:|")));
        foreach (var shape in b.Kernel.Select(k => new BackwardShape(k.N, k.Heads, k.HeadDim, k.Causal)).Distinct())
        {
            md.AppendLine($"| {shape.N} | {shape.Heads} | {shape.HeadDim} | {(shape.Causal ? "yes" : "no")} |" + string.Concat(columns.Select(c => $" {c.Cell(shape)} |")));
        }
        md.AppendLine();
        return md.ToString();
    }

    private static BackwardResult? At(BackwardSection b, string type, BackwardShape s) =>
        b.Kernel.FirstOrDefault(k => k.DType == type && k.N == s.N && k.Heads == s.Heads && k.HeadDim == s.HeadDim && k.Causal == s.Causal);

    private static BackwardPeerResult? PeerAt(BackwardSection b, BackwardShape s) =>
        b.PeerResults.FirstOrDefault(p => p.N == s.N && p.Heads == s.Heads && p.HeadDim == s.HeadDim && p.Causal == s.Causal);

    private static string F(double value) => value.ToString("F0", CultureInfo.InvariantCulture);

    private sealed record BackwardShape(int N, int Heads, int HeadDim, bool Causal);
}
