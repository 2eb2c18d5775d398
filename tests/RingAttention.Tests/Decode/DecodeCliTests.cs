using System.Text.Json;
using RingAttention.Cli;

namespace RingAttention.Tests.Decode;

/// <summary><c>ringattn decode</c> in emulation, in-process: verification, the report, argument errors.</summary>
public sealed class DecodeCliTests
{
    [Theory]
    [InlineData("Float32", "zigzag", "1")]
    [InlineData("BFloat16", "contiguous", "3")]
    public void DecodeVerifiesEveryStepAndReportsAsJson(string dtype, string layout, string tokensPerStep)
    {
        var (exit, stdout, stderr) = Invoke("decode", "--ranks", "3", "--context", "300", "--steps", "4", "--tokens-per-step", tokensPerStep,
            "--batch", "2", "--heads", "4", "--kv-heads", "1", "--head-dim", "32", "--dtype", dtype, "--layout", layout, "--block-size", "2",
            "--threads", "2", "--json");
        Assert.True(exit == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.True(root.GetProperty("Verified").GetBoolean());
        Assert.Equal(4, root.GetProperty("VerifiedSteps").GetInt32());
        Assert.Equal(4 * 2 * int.Parse(tokensPerStep), root.GetProperty("Verification").GetProperty("Rows").GetInt32());
        Assert.True(root.GetProperty("BandwidthGBps").GetDouble() > 0);
        // Largest shard: 100 prompt tokens plus its appended ones, K and V, batch 2, one KV head of 32 floats or bf16s.
        long elementBytes = dtype == "Float32" ? 4 : 2;
        int appended = 4 * int.Parse(tokensPerStep);
        long largestTokens = 100 + (appended + 5) / 6 * 2;
        Assert.InRange(root.GetProperty("CacheBytesMax").GetInt64(), 2 * 2 * 32 * elementBytes * 100, 2 * 2 * 32 * elementBytes * largestTokens);
    }

    [Fact]
    public void VerifyStepsLimitsTheCheckAndZeroSkipsIt()
    {
        var (exit, stdout, _) = Invoke("decode", "--ranks", "2", "--context", "50", "--steps", "3", "--verify-steps", "1", "--head-dim", "16", "--json");
        Assert.Equal(0, exit);
        using (var json = JsonDocument.Parse(stdout))
        {
            Assert.Equal(1, json.RootElement.GetProperty("VerifiedSteps").GetInt32());
        }
        (exit, stdout, _) = Invoke("decode", "--ranks", "2", "--context", "50", "--steps", "3", "--verify-steps", "0", "--head-dim", "16");
        Assert.Equal(0, exit);
        Assert.Contains("verification  skipped", stdout);
    }

    [Fact]
    public void CacheOnlyFillsTheSameCachesAsThePrefill()
    {
        string[] problem = ["decode", "--ranks", "3", "--context", "130", "--steps", "3", "--tokens-per-step", "2", "--head-dim", "16", "--layout", "striped", "--digest", "--json"];
        var (exit, stdout, _) = Invoke(problem);
        Assert.Equal(0, exit);
        var (cacheOnlyExit, cacheOnlyStdout, _) = Invoke([.. problem, "--cache-only"]);
        Assert.Equal(0, cacheOnlyExit);
        using var full = JsonDocument.Parse(stdout);
        using var cacheOnly = JsonDocument.Parse(cacheOnlyStdout);
        Assert.True(cacheOnly.RootElement.GetProperty("Verified").GetBoolean());
        Assert.Equal(full.RootElement.GetProperty("OutputDigest").GetString(), cacheOnly.RootElement.GetProperty("OutputDigest").GetString());
    }

    [Theory]
    [InlineData("--context", "0", "--context: expected at least 1, actual 0.")]
    [InlineData("--tokens-per-step", "0", "--tokens-per-step: expected at least 1, actual 0.")]
    [InlineData("--kv-heads", "3", "--heads: expected a multiple of KvHeads (3), actual 8.")]
    [InlineData("--max-cache-tokens", "5", "--max-cache-tokens: expected at least 12 (the largest rank's prefill shard plus its appended tokens), actual 5.")]
    public void BadValuesExitWithUsageErrorNamingTheOption(string option, string value, string message)
    {
        var defaults = new Dictionary<string, string> { ["--ranks"] = "2", ["--context"] = "20", ["--steps"] = "4", ["--block-size"] = "1" };
        defaults[option] = value;
        var (exit, _, stderr) = Invoke(["decode", .. defaults.SelectMany(pair => new[] { pair.Key, pair.Value })]);
        Assert.Equal(2, exit);
        Assert.Contains(message, stderr);
    }

    private static (int Exit, string Stdout, string Stderr) Invoke(params string[] args)
    {
        var (oldOut, oldError) = (Console.Out, Console.Error);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        Console.SetOut(stdout);
        Console.SetError(stderr);
        try
        {
            int exit = RingAttnCli.Run(args);
            return (exit, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldError);
        }
    }
}
