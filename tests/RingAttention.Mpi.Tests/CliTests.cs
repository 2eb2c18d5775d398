namespace RingAttention.Mpi.Tests;

/// <summary>The CLI's MPI facts, its overlap report, its transport choice, and the launch wrapper's command lines.</summary>
public sealed class CliTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    [SkippableTheory]
    [MemberData(nameof(BindingTests.Families), MemberType = typeof(BindingTests))]
    public void Info_reports_the_library_and_its_version(string family)
    {
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var result = ChildProcess.Run(Launchers.Ringattn, ["info"], Limit,
            new Dictionary<string, string> { [MpiLibrary.OverrideVariable] = launcher.Library });
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("mpi launcher           none", result.StandardOutput);
        Assert.Contains(launcher == Launchers.OpenMpi
            ? "transport mpi          available: libmpi.so.40, OpenMpi (Open MPI v"
            : "transport mpi          available: libmpich.so.12, Mpich (MPICH Version:", result.StandardOutput);
    }

    [Fact]
    public void Info_says_why_no_library_was_found()
    {
        var result = ChildProcess.Run(Launchers.Ringattn, ["info"], Limit,
            new Dictionary<string, string> { [MpiLibrary.OverrideVariable] = "libmpi-that-does-not-exist.so" });
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("transport mpi          unavailable: the MPI library named by RINGATTN_MPI_LIBRARY could not be loaded: libmpi-that-does-not-exist.so:", result.StandardOutput);
    }

    [Fact]
    public void Without_a_launcher_auto_runs_emulation_and_mpi_is_refused_with_the_reason()
    {
        var auto = ChildProcess.Run(Launchers.Ringattn, ["run", "--ranks", "2", "--seq", "64", "--heads", "1", "--head-dim", "8", "--json"], Limit);
        Assert.True(auto.ExitCode == 0, auto.ToString());
        Assert.StartsWith("emulation: 2 virtual rank(s)", Ringattn.Json(auto).GetProperty("Host").GetString());

        var forced = ChildProcess.Run(Launchers.Ringattn, ["run", "--transport", "mpi", "--seq", "64"], Limit,
            new Dictionary<string, string> { [MpiLibrary.OverrideVariable] = "libmpi-that-does-not-exist.so" });
        Assert.Equal(3, forced.ExitCode);
        Assert.Contains("the MPI library named by RINGATTN_MPI_LIBRARY could not be loaded", forced.StandardError);
    }

    [SkippableTheory]
    [MemberData(nameof(BindingTests.Families), MemberType = typeof(BindingTests))]
    public void Two_processes_report_the_hidden_part_of_each_exchange(string family)
    {
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var result = Ringattn.Mpi(launcher, 2, ["--seq", "2048", "--heads", "4", "--head-dim", "64", "--causal", "--threads", "1", "--verify-rows", "2"], Limit);
        Assert.True(result.ExitCode == 0, result.ToString());
        string[] lines = result.StandardOutput.Split('\n');
        Assert.Contains(lines, line => line.StartsWith("overlap   exchange time hidden behind compute", StringComparison.Ordinal));
        foreach (int rank in new[] { 0, 1 })
        {
            var step = Assert.Single(lines, line => Columns(line) is [var r, "0", ..] && r == rank.ToString());
            var total = Assert.Single(lines, line => Columns(line) is [var r, "total", ..] && r == rank.ToString());
            // compute ms, exchange ms, hidden ms, exposed wait ms, hidden %: hidden never exceeds the exchange.
            double exchange = double.Parse(Columns(step)[3]), hidden = double.Parse(Columns(step)[4]);
            Assert.InRange(hidden, 0, exchange);
            Assert.Equal(Columns(step)[2..], Columns(total)[2..]);
        }
        Assert.Contains(lines, line => line.StartsWith("overlap   ", StringComparison.Ordinal) && line.Contains("of exchange hidden over all ranks and steps"));
    }

    [Fact]
    public void The_wrapper_adds_what_each_family_needs()
    {
        bool root = Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root";
        string Dry(params string[] arguments)
        {
            var result = ChildProcess.Run("bash", [Launchers.Wrapper, "--dry-run", .. arguments], Limit);
            Assert.True(result.ExitCode == 0, result.ToString());
            return result.StandardError.Split('\n').Single(line => line.StartsWith("+ ", StringComparison.Ordinal));
        }

        string openMpi = Dry("--mpiexec", Launchers.OpenMpi.Mpiexec, "-n", "1", "ringattn", "run");
        Assert.Equal(root, openMpi.Contains("--allow-run-as-root"));
        Assert.DoesNotContain("--oversubscribe", openMpi);
        Assert.Contains("--bind-to core", openMpi);
        Assert.EndsWith($"-n 1 {Path.Combine(Launchers.RepositoryRoot, "src/RingAttention.Cli/bin/Release/net10.0/ringattn")} run", openMpi);

        string asked = Dry("--mpiexec", Launchers.OpenMpi.Mpiexec, "--oversubscribe", "--bind-to", "socket", "-n", "1", "./a.out");
        Assert.Contains("--oversubscribe", asked);
        Assert.DoesNotContain("--bind-to none", asked);
        Assert.EndsWith("--bind-to socket -n 1 ./a.out", asked);

        string mpich = Dry("--mpiexec", Launchers.Mpich.Mpiexec, "-n", "1", "./a.out", "x");
        Assert.DoesNotContain("--allow-run-as-root", mpich);
        Assert.Contains("-bind-to core:", mpich);
    }

    private static string[] Columns(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
