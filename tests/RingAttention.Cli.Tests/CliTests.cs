using System.Text.Json;
using RingAttention.Cli;

namespace RingAttention.Cli.Tests;

/// <summary>The ringattn command line, run in-process: exit codes, JSON result, argument errors.</summary>
[Collection(Cli.Console)]
public sealed class CliTests
{
    [Fact]
    public void RunVerifiesAndReportsEveryRankAsJson()
    {
        var (exit, stdout, _) = Invoke("run", "--ranks", "3", "--seq", "157", "--heads", "4", "--kv-heads", "2", "--head-dim", "16",
            "--causal", "--layout", "striped", "--verify-rows", "6", "--json");
        Assert.Equal(0, exit);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.True(root.GetProperty("Verified").GetBoolean());
        Assert.Equal(6, root.GetProperty("Verification").GetProperty("Rows").GetInt32());
        Assert.True(root.GetProperty("Verification").GetProperty("MaxAbsError").GetDouble() < 1e-5);
        var ranks = root.GetProperty("RankSummaries").EnumerateArray().ToArray();
        Assert.Equal([53, 52, 52], ranks.Select(r => r.GetProperty("LocalLength").GetInt32()));
        Assert.All(ranks, r => Assert.Equal(3, r.GetProperty("Steps").GetArrayLength()));
    }

    [Theory]
    [InlineData("--head-dim", "0", "--head-dim: expected a value in [1, 256], actual 0.")]
    [InlineData("--kv-heads", "3", "--heads: expected a multiple of KvHeads (3), actual 8.")]
    [InlineData("--ranks", "0", "--ranks: expected 1 to 1024, actual 0.")]
    [InlineData("--seq", "-3", "--seq: expected at least 1, actual -3.")]
    public void BadValuesExitWithUsageErrorNamingTheOption(string option, string value, string message)
    {
        var (exit, _, stderr) = Invoke("run", option, value);
        Assert.Equal(2, exit);
        Assert.Contains(message, stderr);
    }

    [Fact]
    public void UnknownOptionsAndVerbsAreUsageErrors()
    {
        Assert.Equal(2, Invoke("run", "--no-such-option").Exit);
        Assert.Equal(2, Invoke("frobnicate").Exit);
    }

    [Fact]
    public void InfoListsTheCpuBackendAndSimdWidth()
    {
        var (exit, stdout, _) = Invoke("info", "--json");
        Assert.Equal(0, exit);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal("available", json.RootElement.GetProperty("backend cpu").GetString());
        Assert.Contains("fp32 lanes", json.RootElement.GetProperty("simd").GetString());
    }

    private static (int Exit, string Stdout, string Stderr) Invoke(params string[] args) => Cli.Invoke(args);
}
