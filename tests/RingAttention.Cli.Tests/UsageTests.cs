namespace RingAttention.Cli.Tests;

/// <summary>Issue 17 B2, B8, B10 and the unknown-option case: what the command line accepts, refuses, and where help goes.</summary>
[Collection(Cli.Console)]
public sealed class UsageTests
{
    [Theory]
    [InlineData("--out")]
    [InlineData("--lse-out")]
    [InlineData("--ranks")]
    [InlineData("--seq")]
    [InlineData("--layout")]
    [InlineData("--scale")]
    [InlineData("--input-layout")]
    public void AnOptionWithoutItsValueIsAUsageError(string option)
    {
        var (exit, stdout, stderr) = Cli.Invoke("run", "--verify-rows", "0", option);
        Assert.Equal(2, exit);
        Assert.Contains($"{option}: expected a value, actual none.", stderr);
        Assert.Equal("", stdout);
    }

    [Fact]
    public void AnOptionFollowedByAnotherOptionHasNoValue()
    {
        var (exit, _, stderr) = Cli.Invoke("run", "--out", "--seq", "16");
        Assert.Equal(2, exit);
        Assert.Contains("--out: expected a value", stderr);
    }

    [Theory]
    [InlineData("--causal", "false")]
    [InlineData("--causal=false")]
    [InlineData("foo", "bar")]
    [InlineData("--seq", "16", "extra")]
    public void StrayWordsAndValuesAfterSwitchesAreUsageErrors(params string[] words)
    {
        var (exit, stdout, stderr) = Cli.Invoke(["run", "--verify-rows", "0", .. words]);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Single(stderr.TrimEnd().Split('\n'));
    }

    [Fact]
    public void ASwitchGivenAValueSaysItTakesNone()
    {
        var (exit, _, stderr) = Cli.Invoke("run", "--causal", "false");
        Assert.Equal(2, exit);
        Assert.Contains("--causal: is a switch and takes no value, actual 'false' (leave it out for false).", stderr);
    }

    [Fact]
    public void NegativeNumbersAreValuesNotOptions()
    {
        var (exit, _, stderr) = Cli.Invoke("run", "--seq", "-3");
        Assert.Equal(2, exit);
        Assert.Contains("--seq: expected at least 1, actual -3.", stderr);
    }

    [Theory]
    [InlineData("1e300")]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("nan")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    public void ExchangeTimeoutIsRangeCheckedBeforeAnyTransportStarts(string value)
    {
        // The check runs before the host is chosen, so emulation and MPI refuse the same values the same way.
        foreach (var transport in new[] { "emulation", "auto" })
        {
            var (exit, _, stderr) = Cli.Invoke("run", "--transport", transport, "--seq", "16", "--exchange-timeout", value);
            Assert.Equal(2, exit);
            Assert.Contains("--exchange-timeout: expected seconds in (0, 604800]", stderr);
        }
    }

    [Theory]
    [InlineData("--tolerance", "nan", "--tolerance: expected a finite positive number")]
    [InlineData("--tolerance", "-1", "--tolerance: expected a finite positive number")]
    [InlineData("--scale", "NaN", "--scale: expected a finite number")]
    [InlineData("--scale", "Infinity", "--scale: expected a finite number")]
    [InlineData("--threads", "0", "--threads: expected 1 to 4096")]
    [InlineData("--device", "-1", "--device: expected a device ordinal")]
    [InlineData("--ranks", "100000", "--ranks: expected 1 to 1024")]
    public void NumericOptionsAreRangeChecked(string option, string value, string message)
    {
        var (exit, _, stderr) = Cli.Invoke("run", "--seq", "16", option, value);
        Assert.Equal(2, exit);
        Assert.Contains(message, stderr);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("run", "--help")]
    [InlineData("help", "run")]
    [InlineData("help", "info")]
    [InlineData("help")]
    [InlineData("--version")]
    [InlineData("version")]
    public void HelpAndVersionGoToStdoutAndExitZero(params string[] args)
    {
        var (exit, stdout, stderr) = Cli.Invoke(args);
        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        Assert.Contains("ringattn", stdout, StringComparison.OrdinalIgnoreCase);
        if (args.Contains("run"))
        {
            Assert.Contains("--exchange-timeout", stdout);
        }
    }

    [Fact]
    public void AnUnknownOptionIsOneShortLine()
    {
        var (exit, stdout, stderr) = Cli.Invoke("run", "--no-such-option");
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Equal(["ringattn: unknown option '--no-such-option'; see 'ringattn <command> --help' for the options."], stderr.TrimEnd().Split('\n'));
    }

    [Fact]
    public void ManyRanksOverAShortSequenceAreCheap()
    {
        // P ≫ N leaves most ranks empty: the largest allowed ring over 64 tokens must finish in seconds, not hang.
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var (exit, _, stderr) = Cli.Invoke("run", "--seq", "64", "--ranks", "1024", "--heads", "1", "--head-dim", "8", "--json");
        Assert.True(exit == 0, stderr);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"took {watch.Elapsed}");
    }
}
