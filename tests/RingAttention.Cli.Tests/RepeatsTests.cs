using System.Text.Json;

namespace RingAttention.Cli.Tests;

/// <summary>
/// <c>ringattn run --repeats R --warmup W</c>: the first pass and the steady state reported apart, in JSON too; the
/// repeated passes over the same workspace leave exactly the outputs of a single pass; bad counts are usage errors.
/// </summary>
[Collection(Cli.Console)]
public sealed class RepeatsTests
{
    private static readonly string[] Problem = ["run", "--ranks", "3", "--seq", "200", "--heads", "2", "--head-dim", "32", "--causal", "--digest", "--json"];

    [Fact]
    public void SteadyStateIsReportedApartFromTheFirstPassWithTheSameOutputs()
    {
        using var single = Run(Problem);
        using var repeated = Run([.. Problem, "--repeats", "3", "--warmup", "1"]);
        Assert.Equal(JsonValueKind.Null, single.RootElement.GetProperty("SteadyState").ValueKind);
        var steady = repeated.RootElement.GetProperty("SteadyState");
        Assert.Equal(3, steady.GetProperty("Passes").GetInt32());
        Assert.Equal(1, steady.GetProperty("Warmup").GetInt32());
        double best = steady.GetProperty("BestSeconds").GetDouble(), median = steady.GetProperty("MedianSeconds").GetDouble();
        Assert.True(best > 0 && best <= median, $"best {best} s, median {median} s");
        Assert.True(steady.GetProperty("BestTflops").GetDouble() >= steady.GetProperty("MedianTflops").GetDouble());
        Assert.True(repeated.RootElement.GetProperty("WallSeconds").GetDouble() > 0);
        var firstPass = repeated.RootElement.GetProperty("FirstPass");
        Assert.True(firstPass.GetProperty("JitSeconds").GetDouble() >= 0);
        Assert.True(firstPass.GetProperty("MethodsCompiled").GetInt64() >= 0);
        Assert.True(repeated.RootElement.GetProperty("Verified").GetBoolean());
        // Every pass restarts the running state: five passes leave the bytes one pass leaves.
        Assert.Equal(Digests(single), Digests(repeated));
    }

    [Theory]
    [InlineData("--repeats", "-1", "--repeats: expected 0 to 1000, actual -1.")]
    [InlineData("--warmup", "-2", "--warmup: expected 0 to 1000, actual -2.")]
    [InlineData("--warmup", "2", "--warmup: expected 0 unless --repeats is at least 1")]
    public void BadCountsAreUsageErrors(string option, string value, string message)
    {
        var (exit, _, stderr) = Cli.Invoke("run", "--seq", "16", option, value);
        Assert.Equal(2, exit);
        Assert.Contains(message, stderr);
    }

    private static JsonDocument Run(string[] args)
    {
        var (exit, stdout, stderr) = Cli.Invoke(args);
        Assert.True(exit == 0, stderr);
        return JsonDocument.Parse(stdout);
    }

    private static string[] Digests(JsonDocument result) =>
        result.RootElement.GetProperty("RankSummaries").EnumerateArray().Select(rank => rank.GetProperty("OutputDigest").GetString()!).ToArray();
}
