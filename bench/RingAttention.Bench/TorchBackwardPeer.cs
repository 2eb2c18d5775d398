using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RingAttention.Bench;

/// <summary>
/// The PyTorch backward peer, run in the same bench on the same machine when Debian's python3-torch is installed:
/// torch_peer.py with "backward" cases, autograd through the forward peer's matmul + softmax attention in fp32. The
/// forward runs untimed; only out.backward(dO) is timed (FLOPs counted as the kernel's: 2.5 × the forward's). When
/// torch is missing the bench says so and carries on.
/// </summary>
internal static class TorchBackwardPeer
{
    public const string Name = "PyTorch";

    /// <summary>What the peer's figure measures, for the reports.</summary>
    public const string Method = "autograd backward of matmul + softmax attention, fp32; loss.backward() timed alone, its forward excluded";

    public static (bool Available, string Description, List<BackwardPeerResult> Results) Run(
        string python, IEnumerable<BackwardResult> fp32Cases, int repeats)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "torch_peer.py");
        if (!File.Exists(python))
        {
            return (false, $"absent: {python} not found", []);
        }
        var cases = fp32Cases.Select(c => new { n = c.N, heads = c.Heads, head_dim = c.HeadDim, causal = c.Causal, threads = c.Threads, repeats, backward = true });
        var start = new ProcessStartInfo(python, [script]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {python}");
        process.StandardInput.Write(JsonSerializer.Serialize(cases));
        process.StandardInput.Close();
        var errors = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0 || string.IsNullOrWhiteSpace(output))
        {
            string reason = errors.Result.Trim().Split('\n').LastOrDefault() ?? "no output";
            return (false, $"absent: torch_peer.py exited with {process.ExitCode}: {reason}", []);
        }
        var json = JsonNode.Parse(output)!;
        string description = json["description"]!.GetValue<string>();
        if (!json["available"]!.GetValue<bool>())
        {
            return (false, "absent: " + description + " (install with: apt-get install -y python3-torch)", []);
        }
        var results = json["results"]!.AsArray().Select(r =>
        {
            var options = new AttentionOptions { Heads = r!["heads"]!.GetValue<int>(), HeadDim = r["head_dim"]!.GetValue<int>(), Causal = r["causal"]!.GetValue<bool>() };
            int n = r["n"]!.GetValue<int>();
            double seconds = r["seconds"]!.GetValue<double>();
            return new BackwardPeerResult(Name, n, options.Heads, options.HeadDim, options.Causal, r["threads"]!.GetValue<int>(), seconds,
                2.5 * options.ForwardFlops(n) / seconds / 1e9);
        }).ToList();
        return (true, $"{description}; {Method}", results);
    }
}
