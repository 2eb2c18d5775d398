using System.Text.Json;
using RingAttention.Cli;
using RingAttention.Planning;

namespace RingAttention.Tests.Planning;

/// <summary>The planner's choices and <c>ringattn plan</c> end to end.</summary>
public sealed class PlannerTests
{
    [Fact]
    public void IssueCommandAnswersWithZigzagAndTheSmallestFittingP()
    {
        var (exit, stdout, stderr) = Invoke("plan", "--seq", "1048576", "--heads", "64", "--kv-heads", "8", "--head-dim", "128",
            "--dtype", "BFloat16", "--device", "h100-sxm", "--link", "nvlink", "--backward", "--json");
        Assert.True(exit == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        // Hand computation in MemoryModelTests: forward fits at P = 2 (524288 rows × 78592 = 41.2e9 ≤ 72e9, P = 1
        // needs 1048576 × 70400 = 73.8e9 > 72e9), forward+backward at P = 2 (68.99e9 ≤ 72e9).
        Assert.Equal(2, root.GetProperty("SmallestForwardRanks").GetInt32());
        Assert.Equal(2, root.GetProperty("SmallestForwardBackwardRanks").GetInt32());
        Assert.Equal("zigzag", root.GetProperty("RecommendedLayout").GetString());
        Assert.Equal("Datasheet", root.GetProperty("DeviceProvenance").GetString());
        Assert.Equal(5, root.GetProperty("TenMillion").GetArrayLength());
        Assert.All(root.GetProperty("Predictions").EnumerateArray(), p => Assert.NotEqual(JsonValueKind.Null, p.GetProperty("Backward").ValueKind));
    }

    [Fact]
    public void KernelTflopsAtPeakGivesRingAttentionsMinimumBlockSizes()
    {
        // Ring Attention's table assumes the A100's peak, F = 312e12, and MHA: c >= F/B.
        // NVLink 3, B = 300e9: 1040 tokens (the paper's 1.0K); InfiniBand EDR, B = 12.5e9: 24960 (the paper's 24.5K).
        foreach (var (link, tokens) in new[] { ("nvlink", 1040.0), ("ib-edr", 24960.0) })
        {
            var (exit, stdout, stderr) = Invoke("plan", "--seq", "65536", "--heads", "32", "--head-dim", "128", "--mask", "full", "--device", "a100",
                "--link", link, "--ranks", "8", "--kernel-tflops", "312", "--json");
            Assert.True(exit == 0, stderr);
            using var json = JsonDocument.Parse(stdout);
            var zigzag = json.RootElement.GetProperty("Overlap").EnumerateArray()
                .Single(o => o.GetProperty("Layout").GetString() == "zigzag" && o.GetProperty("Direction").GetString() == "Forward");
            Assert.Equal(tokens, zigzag.GetProperty("RequiredTokens").GetDouble(), 6);
            Assert.Equal(link == "nvlink", zigzag.GetProperty("Hides").GetBoolean());
        }
    }

    [Fact]
    public void ASmallWindowMakesTheRingBandwidthBound()
    {
        // 4096-token window on 1M tokens over 8 H100s: each rank computes ~c·W pairs, not c²/2, but the ring still
        // moves every K/V block, so the exchange shows.
        var (exit, stdout, stderr) = Invoke("plan", "--seq", "1048576", "--heads", "64", "--kv-heads", "8", "--head-dim", "128",
            "--ranks", "8", "--window", "4096", "--link", "ib-ndr", "--json");
        Assert.True(exit == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var zigzag = json.RootElement.GetProperty("Predictions").EnumerateArray().Single(p => p.GetProperty("Layout").GetString() == "zigzag");
        Assert.Equal("bandwidth-bound", zigzag.GetProperty("Bound").GetString());
        Assert.Contains("window=4096", json.RootElement.GetProperty("Problem").GetString());
    }

    [Fact]
    public void TextReportNamesDatasheetValuesAndTheTenMillionQuestion()
    {
        var (exit, stdout, _) = Invoke("plan", "--seq", "10000000", "--heads", "40", "--kv-heads", "8", "--head-dim", "128", "--device", "b200");
        Assert.Equal(0, exit);
        Assert.Contains("DATASHEET values, not measured", stdout);
        Assert.Contains("Ten million tokens", stdout);
        Assert.Contains("MODELLED", stdout);
    }

    [Theory]
    [InlineData("--device", "tpu", "--device: expected one of a100, h100-sxm, h800, h200, b200, actual 'tpu'")]
    [InlineData("--link", "smoke-signals", "--link: expected nvlink or one of")]
    [InlineData("--kv-heads", "3", "--kv-heads: expected a divisor of --heads (8), actual 3")]
    [InlineData("--memory-fraction", "1.5", "--memory-fraction: expected a fraction in (0, 1], actual 1.5")]
    [InlineData("--window", "0", "--window: expected at least 1, actual 0")]
    public void BadValuesExitWithUsageErrorNamingTheOption(string option, string value, string message)
    {
        var (exit, _, stderr) = Invoke("plan", "--seq", "4096", "--heads", "8", "--head-dim", "64", option, value);
        Assert.Equal(2, exit);
        Assert.Contains(message, stderr);
    }

    [Fact]
    public void MeasuredCpuAndGpuReportReplaceDatasheetFigures()
    {
        string report = Path.GetTempFileName();
        try
        {
            // Two rows in bench-gpu's format: head_dim, N, causal, B, H, kernel, ms, TFLOP/s, % peak.
            File.WriteAllLines(report, [
                "bench-gpu on NVIDIA H100 80GB HBM3",
                "     128    8192  False    2   16 flash_fwd_bf16_hd128                  1.000    300.0    30.3",
                "     128    8192   True    2   16 flash_fwd_bf16_hd128_causal           1.000    250.0    25.3",
            ]);
            var device = MeasuredConstants.FromGpuSelfTestReport(report, HardwarePresets.Device("h100-sxm"));
            Assert.Equal(Provenance.Measured, device.Throughput.Provenance);
            Assert.Equal(300e12, device.Throughput.FlopsPerSecond(ElementType.BFloat16, 128, false, 4096, PassDirection.Forward));
            Assert.Equal(250e12, device.Throughput.FlopsPerSecond(ElementType.BFloat16, 128, true, 4096, PassDirection.Forward));
            // Backward modelled at FA2's backward/forward ratio on H100 (205/340).
            Assert.Equal(300e12 * 205 / 340, device.Throughput.FlopsPerSecond(ElementType.BFloat16, 128, false, 4096, PassDirection.Backward), 1e3);
        }
        finally
        {
            File.Delete(report);
        }
        // The committed bench results: the CPU's fp32 kernel at N = 16384, D = 128, not causal, all cores.
        string results = Path.Combine(RepositoryRoot(), "bench", "results", "amd-epyc-family-26-model-2-2-cores", "results.json");
        var cpu = MeasuredConstants.CpuFromBenchResults(results, 8e9);
        Assert.Equal(Provenance.Measured, cpu.Throughput.Provenance);
        using var json = JsonDocument.Parse(File.ReadAllText(results));
        var expected = json.RootElement.GetProperty("Kernel").EnumerateArray().Single(k => k.GetProperty("DType").GetString() == "fp32"
            && k.GetProperty("N").GetInt32() == 16384 && k.GetProperty("HeadDim").GetInt32() == 128 && !k.GetProperty("Causal").GetBoolean()
            && k.GetProperty("Threads").GetInt32() == json.RootElement.GetProperty("Kernel").EnumerateArray().Max(x => x.GetProperty("Threads").GetInt32()));
        Assert.Equal(expected.GetProperty("Gflops").GetDouble() * 1e9, cpu.Throughput.FlopsPerSecond(ElementType.Float32, 128, false, 20000, PassDirection.Forward));
    }

    internal static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "RingAttention.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"RingAttention.sln not found above {AppContext.BaseDirectory}");
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
            return (RingAttnCli.Run(args), stdout.ToString(), stderr.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldError);
        }
    }
}
