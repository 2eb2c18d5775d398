using System.Runtime.InteropServices;
using System.Text.Json;
using RingAttention.IO;

namespace RingAttention.Cli.Tests;

/// <summary>
/// <c>ringattn run --backward</c> in-process: the gradients verify and are reported, dO from a file is used by the
/// ring and the references alike, outputs are written only when verified, and misuse is a usage error naming the option.
/// </summary>
[Collection(Cli.Console)]
public sealed class BackwardCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("ringattn-backward-cli-").FullName;

    private static readonly string[] Problem = ["--seq", "157", "--heads", "4", "--kv-heads", "2", "--head-dim", "16", "--causal", "--threads", "1"];

    [Theory]
    [InlineData("zigzag", "3")]
    [InlineData("striped", "4")]
    [InlineData("contiguous", "8")]
    public void BackwardVerifiesAndReportsAsJson(string layout, string ranks)
    {
        var (exit, stdout, stderr) = Cli.Invoke(["run", "--ranks", ranks, "--layout", layout, .. Problem, "--backward", "--verify-rows", "6", "--json"]);
        Assert.True(exit == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var backward = json.RootElement.GetProperty("Backward");
        Assert.True(backward.GetProperty("Verified").GetBoolean());
        foreach (var tensor in new[] { "QueryGrad", "KeyGrad", "ValueGrad" })
        {
            Assert.Equal(6, backward.GetProperty(tensor).GetProperty("Rows").GetInt32());
            Assert.True(backward.GetProperty(tensor).GetProperty("MaxAbsError").GetDouble() < 1e-5, tensor);
        }
        Assert.True(backward.GetProperty("MaxBytesSent").GetInt64() > 0);
        Assert.True(backward.GetProperty("VerifySeconds").GetDouble() > 0);
        Assert.True(backward.GetProperty("Gflops").GetDouble() > 0);
    }

    [Fact]
    public void TheTextReportHasTheBackwardLines()
    {
        var (exit, stdout, stderr) = Cli.Invoke(["run", "--ranks", "2", .. Problem, "--backward", "--verify-rows", "4"]);
        Assert.True(exit == 0, stderr);
        Assert.Contains("backward  ", stdout);
        Assert.Contains("(10·B·N²·H·D/2)", stdout);
        Assert.Contains("verify    gradients VERIFIED", stdout);
        Assert.Matches(@"verify    gradient verification \d+\.\d{3} s", stdout);
    }

    [Fact]
    public void OutputGradientFromAFileIsWhatTheRingAndTheReferencesUse()
    {
        string dOut = Path.Combine(_folder, "do.npy");
        WriteNpy(dOut, [1, 157, 4, 16], seed: 3);
        string dq1 = Path.Combine(_folder, "dq1.npy"), dq2 = Path.Combine(_folder, "dq2.npy");
        var (exit, _, stderr) = Cli.Invoke(["run", "--ranks", "3", .. Problem, "--backward", "--verify-rows", "8", "--dout", dOut, "--dq-out", dq1]);
        Assert.True(exit == 0, stderr);
        (exit, _, stderr) = Cli.Invoke(["run", "--ranks", "3", .. Problem, "--backward", "--verify-rows", "8", "--dq-out", dq2]);
        Assert.True(exit == 0, stderr);
        // The generator's dO and the file's differ, and so do the (verified) gradients.
        Assert.NotEqual(File.ReadAllBytes(dq1), File.ReadAllBytes(dq2));
    }

    [Fact]
    public void FailedVerificationLeavesTheGradientFilesUntouched()
    {
        string dq = Path.Combine(_folder, "dq.npy");
        File.WriteAllText(dq, "keep me");
        var (exit, stdout, _) = Cli.Invoke(["run", "--ranks", "2", .. Problem, "--backward", "--verify-rows", "4", "--tolerance", "1e-30", "--dq-out", dq]);
        Assert.Equal(1, exit);
        Assert.Contains("gradients not written", stdout);
        Assert.Equal("keep me", File.ReadAllText(dq));
    }

    [Theory]
    [InlineData("--dq-out")]
    [InlineData("--dk-out")]
    [InlineData("--dv-out")]
    [InlineData("--dout")]
    public void GradientOptionsNeedBackward(string option)
    {
        var (exit, _, stderr) = Cli.Invoke(["run", .. Problem, option, Path.Combine(_folder, "x.npy")]);
        Assert.Equal(2, exit);
        Assert.Contains($"{option}: belongs to the backward pass, but --backward was not given.", stderr);
    }

    [Fact]
    public void CudaBackwardIsRefusedNamingWhatIsMissing()
    {
        var (exit, _, stderr) = Cli.Invoke(["run", .. Problem, "--backend", "cuda", "--backward"]);
        Assert.Equal(2, exit);
        Assert.Contains("--backward: the backward pass runs on the CPU backend only", stderr);
        Assert.Contains("CUDA backward kernels", stderr);
    }

    [Fact]
    public void OutputGradientOfTheWrongShapeIsRejected()
    {
        string dOut = Path.Combine(_folder, "do.npy");
        WriteNpy(dOut, [1, 157, 2, 16], seed: 3);
        var (exit, _, stderr) = Cli.Invoke(["run", .. Problem, "--backward", "--dout", dOut]);
        Assert.Equal(2, exit);
        Assert.Contains("--dout: expected (batch, seq, heads, head_dim, dtype) = (1, 157, 4, 16, Float32) like Q, actual (1, 157, 2, 16, Float32)", stderr);
    }

    [Fact]
    public void GradientOutputsMustBeDistinctFiles()
    {
        string same = Path.Combine(_folder, "g.npy");
        var (exit, _, stderr) = Cli.Invoke(["run", .. Problem, "--backward", "--dq-out", same, "--dk-out", same]);
        Assert.Equal(2, exit);
        Assert.Contains("--dk-out: expected a file of its own", stderr);
    }

    private static void WriteNpy(string path, long[] shape, int seed)
    {
        var random = new Random(seed);
        var values = Enumerable.Range(0, (int)shape.Aggregate(1L, (a, b) => a * b)).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        using var file = File.Create(path);
        file.Write(NpyFormat.EncodeHeader(ElementType.Float32, shape));
        file.Write(MemoryMarshal.AsBytes(values.AsSpan()));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
