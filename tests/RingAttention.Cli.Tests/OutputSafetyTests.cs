namespace RingAttention.Cli.Tests;

/// <summary>Issue 17 B1 (CLI side), B3, B4, B5, B6, B9 and the read-only folder: what ringattn does with the user's files.</summary>
[Collection(Cli.Console)]
public sealed class OutputSafetyTests : IDisposable
{
    private const int N = 40, Heads = 2, Dim = 8;
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private (int Exit, string Stdout, string Stderr) Run(params string[] extra) =>
        Cli.Invoke(["run", "--q", _folder["q.npy"], "--k", _folder["k.npy"], "--v", _folder["v.npy"], "--ranks", "3", "--causal", "--verify-rows", "8", .. extra]);

    [Fact]
    public void AnOutputMayNotReplaceAnInput()
    {
        Npy.WriteQkv(_folder, N, Heads, Dim);
        var before = File.ReadAllBytes(_folder["q.npy"]);
        var (exit, _, stderr) = Run("--out", _folder["q.npy"]);
        Assert.Equal(2, exit);
        Assert.Contains("--out: expected a file other than the inputs", stderr);

        // The same file under another name: a symlink, a hard link, a path with "..".
        File.CreateSymbolicLink(_folder["alias.npy"], _folder["k.npy"]);
        Assert.Equal(2, Run("--out", _folder["alias.npy"]).Exit);
        Assert.Equal(2, Run("--lse-out", Path.Combine(_folder.Path, "..", Path.GetFileName(_folder.Path), "v.npy")).Exit);
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(0, HardLink(_folder["v.npy"], _folder["hard.npy"]));
            var (hardExit, _, hardError) = Run("--out", _folder["hard.npy"]);
            Assert.Equal(2, hardExit);
            Assert.Contains("--v", hardError);
        }
        Assert.Equal(before, File.ReadAllBytes(_folder["q.npy"]));
    }

    [Fact]
    public void AFailedVerificationLeavesExistingOutputsUntouchedUnlessAskedToWrite()
    {
        Npy.WriteQkv(_folder, N, Heads, Dim);
        File.WriteAllText(_folder["o.npy"], "previous O");
        File.WriteAllText(_folder["lse.npy"], "previous LSE");

        var (exit, stdout, _) = Run("--out", _folder["o.npy"], "--lse-out", _folder["lse.npy"], "--tolerance", "1e-30");
        Assert.Equal(1, exit);
        Assert.Contains("not written: verification failed", stdout);
        Assert.Equal("previous O", File.ReadAllText(_folder["o.npy"]));
        Assert.Equal("previous LSE", File.ReadAllText(_folder["lse.npy"]));

        var forced = Run("--out", _folder["o.npy"], "--tolerance", "1e-30", "--write-on-fail");
        Assert.True(forced.Exit == 1, forced.Stderr);
        Assert.Equal(N * Heads * Dim, Npy.ReadData(_folder["o.npy"]).Length);

        Assert.Equal(0, Run("--out", _folder["o.npy"], "--lse-out", _folder["lse.npy"]).Exit);
        Assert.Equal(N * Heads, Npy.ReadData(_folder["lse.npy"]).Length);
        Assert.Equal(["k.npy", "lse.npy", "o.npy", "q.npy", "v.npy"], Directory.GetFiles(_folder.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void NonFiniteInputsPropagateWithAWarningAndVerifyAgainstTheirReference()
    {
        // A NaN in K row 10 reaches every query row from 10 on (causal); rows before it stay exact.
        Npy.WriteQkv(_folder, N, Heads, Dim, (q, k, v) => { k[(10 * Heads + 1) * Dim + 2] = float.NaN; q[(5 * Heads) * Dim] = float.PositiveInfinity; });
        var (exit, stdout, stderr) = Run("--out", _folder["o.npy"], "--json");
        Assert.True(exit == 0, stderr + stdout);
        Assert.Contains("warning: the inputs hold 2 NaN or ±inf value(s), the first Q[batch 0, position 5, head 0, dim 0] = Infinity", stderr);
        using var json = System.Text.Json.JsonDocument.Parse(stdout);
        Assert.True(double.IsFinite(json.RootElement.GetProperty("Tolerance").GetDouble()));
        var o = Npy.ReadData(_folder["o.npy"]);
        Assert.True(float.IsNaN(o[(5 * Heads) * Dim]), "Q row 5 head 0 is NaN (+inf − +inf in the softmax)");
        Assert.True(float.IsNaN(o[(20 * Heads + 1) * Dim]), "row 20 head 1 attends to the NaN key");
        Assert.True(float.IsFinite(o[(3 * Heads + 1) * Dim]), "row 3 cannot see key 10");

        var (checkedExit, _, checkedError) = Run("--check-finite");
        Assert.Equal(2, checkedExit);
        Assert.Contains("--check-finite: expected finite inputs, actual 2 NaN or ±inf value(s)", checkedError);
    }

    [Fact]
    public void TextFromFilesIsEscapedBeforePrinting()
    {
        Npy.WriteQkv(_folder, N, Heads, Dim);
        Npy.Write(_folder["q.npy"], [1, N, Heads, Dim], new float[N * Heads * Dim], descr: "\u001b]0;pwned\u0007<f4");
        var (exit, _, stderr) = Run();
        Assert.Equal(2, exit);
        Assert.DoesNotContain('\u001b', stderr);
        Assert.DoesNotContain('\u0007', stderr);
        Assert.Contains("\\x1b", stderr);
    }

    [SkippableFact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void AReadOnlyFolderIsNamedInTheMessage()
    {
        Skip.If(Environment.UserName == "root" || !OperatingSystem.IsLinux(), "root writes into read-only folders");
        Npy.WriteQkv(_folder, N, Heads, Dim);
        Directory.CreateDirectory(_folder["locked"]);
        File.SetUnixFileMode(_folder["locked"], UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            var (exit, _, stderr) = Run("--out", _folder["locked/o.npy"]);
            Assert.Equal(2, exit);
            Assert.Contains($"cannot create a file in '{_folder["locked"]}'", stderr);
            Assert.DoesNotContain("ringattn-partial", stderr);
        }
        finally
        {
            File.SetUnixFileMode(_folder["locked"], UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public void ConcurrentRunsWritingOneOutputEachLeaveAWholeResult()
    {
        Npy.WriteQkv(_folder, 300, Heads, Dim);
        string[] Args(string layout, string ranks) => ["run", "--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--layout", layout, "--ranks", ranks, "--out", "o.npy", "--transport", "emulation"];
        var runs = new[] { Cli.Start(_folder.Path, Args("zigzag", "3")), Cli.Start(_folder.Path, Args("striped", "2")), Cli.Start(_folder.Path, Args("contiguous", "4")) };
        var results = runs.Select(Cli.Finish).ToArray();
        Assert.All(results, r => Assert.True(r.Exit == 0, r.Stderr));
        var o = Npy.ReadData(_folder["o.npy"]);
        Assert.Equal(300 * Heads * Dim, o.Length);
        Assert.All(o, x => Assert.True(float.IsFinite(x)));
        Assert.Equal(["k.npy", "o.npy", "q.npy", "v.npy"], Directory.GetFiles(_folder.Path).Select(Path.GetFileName).Order());
    }

    [System.Runtime.InteropServices.DllImport("libc.so.6", EntryPoint = "link")]
    private static extern int HardLink(string existing, string created);
}
