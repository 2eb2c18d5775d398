namespace RingAttention.Cli.Tests;

/// <summary>Issue 10 item 6: the exception family maps once to exit codes; internal errors are short unless --verbose.</summary>
[Collection(Cli.Console)]
public sealed class ExitCodeTests
{
    [Fact]
    public void EachKindOfFailureHasItsExitCode()
    {
        Assert.Equal(2, ExitCodes.For(new InvalidInputException("--seq", "bad")));
        Assert.Equal(2, ExitCodes.For(new IO.TensorFileException("q.npy", "descr", "bad")));
        Assert.Equal(3, ExitCodes.For(new PeerFailureException(1, "rank 1 did not send")));
        Assert.Equal(3, ExitCodes.For(new RuntimeFailureException("disk full")));
        Assert.Equal(3, ExitCodes.For(new IOException("disk full")));
        // A library's ArgumentException reaching the runner is a bug of the caller, not the user's usage.
        Assert.Equal(4, ExitCodes.For(new ArgumentException("step")));
        Assert.Equal(4, ExitCodes.For(new InvalidOperationException("invariant")));
        Assert.Equal(4, ExitCodes.For(new OverflowException()));
    }

    [Fact]
    public void AnInternalErrorIsOneLineAndTheStackTraceNeedsVerbose()
    {
        var (oldError, error) = (Console.Error, new StringWriter());
        Console.SetError(error);
        try
        {
            Assert.Equal(4, CommandRunner.Guarded(() => throw new InvalidOperationException("invariant broken")));
            Assert.Equal(["ringattn: internal error: InvalidOperationException: invariant broken (--verbose shows the stack trace)"], error.ToString().TrimEnd().Split('\n'));
            error.GetStringBuilder().Clear();
            Assert.Equal(4, CommandRunner.Guarded(() => throw new InvalidOperationException("invariant broken"), verbose: true));
            Assert.Contains("   at ", error.ToString());
        }
        finally
        {
            Console.SetError(oldError);
        }
    }

    [Fact]
    public void TheFlopCountComesFromTheProblem()
    {
        var causal = new JobDescription(new AttentionOptions { Heads = 2, HeadDim = 8, Causal = true }, 100, Layouts.SequenceLayouts.Create(Layouts.LayoutKind.Zigzag, 100, 2));
        var full = causal with { Attention = new AttentionOptions { Heads = 2, HeadDim = 8 } };
        Assert.Equal(4.0 * 100 * 100 * 2 * 8 / 2, causal.ForwardFlops);
        Assert.Equal(4.0 * 100 * 100 * 2 * 8, full.ForwardFlops);
        Assert.Equal("4·B·N²·H·D/2", causal.FlopFormula);
        Assert.Equal("4·B·N²·H·D", full.FlopFormula);
    }
}
