using System.Reflection;

namespace RingAttention.Mpi.Tests;

/// <summary>One MPI family as the tests launch it: its mpiexec, the options it needs here, and its library.</summary>
/// <param name="Name">Short name used in test cases.</param>
/// <param name="Mpiexec">The launcher executable.</param>
/// <param name="Library">The family's library as Debian installs it.</param>
public sealed record Launcher(string Name, string Mpiexec, string Library)
{
    public override string ToString() => Name;
}

/// <summary>
/// The MPI families the tests cover, where the test assets are, and the rule for tests that need MPI: they skip
/// (with the reason) only when MPI is absent and RINGATTN_REQUIRE_MPI is not 1; CI sets it, so there they fail.
/// </summary>
internal static class Launchers
{
    public static readonly Launcher OpenMpi = new("openmpi", "mpiexec.openmpi", "libmpi.so.40");
    public static readonly Launcher Mpich = new("mpich", "mpiexec.mpich", "libmpich.so.12");

    public static Launcher ByName(string name) => name == OpenMpi.Name ? OpenMpi : name == Mpich.Name ? Mpich
        : throw new ArgumentException($"name: expected {OpenMpi.Name} or {Mpich.Name}, actual {name}", nameof(name));

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string Configuration { get; } = typeof(Launchers).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "Configuration").Value!;

    /// <summary>The ringattn binary built with this test project.</summary>
    public static string Ringattn => Path.Combine(RepositoryRoot, "src", "RingAttention.Cli", "bin", Configuration, "net10.0", "ringattn");

    /// <summary>This test assembly, which is also the probe program.</summary>
    public static string ProbeAssembly => typeof(Launchers).Assembly.Location;

    public static string Wrapper => Path.Combine(RepositoryRoot, "launch", "mpirun.sh");

    /// <summary>Skips (or, under RINGATTN_REQUIRE_MPI=1, fails) when <paramref name="launcher"/>'s mpiexec is missing; a missing library then fails the test itself.</summary>
    public static void Require(Launcher launcher)
    {
        if (FindOnPath(launcher.Mpiexec) is not null)
        {
            return;
        }
        string missing = $"{launcher.Mpiexec} is not on PATH";
        if (Environment.GetEnvironmentVariable("RINGATTN_REQUIRE_MPI") == "1")
        {
            Assert.Fail($"{missing}, and RINGATTN_REQUIRE_MPI=1 forbids skipping (install it with launch/install-prerequisites.sh)");
        }
        Skip.If(true, $"{missing} (install openmpi-bin and mpich; set RINGATTN_REQUIRE_MPI=1 to fail instead of skipping)");
    }

    /// <summary>
    /// The command that runs <paramref name="program"/> on <paramref name="ranks"/> processes under
    /// <paramref name="launcher"/>, through launch/mpirun.sh (which adds --allow-run-as-root as root and
    /// --oversubscribe as asked).
    /// </summary>
    public static (string File, string[] Arguments) Command(Launcher launcher, int ranks, string program, IEnumerable<string> arguments) =>
        ("bash", [Wrapper, "--mpiexec", launcher.Mpiexec, "--oversubscribe", "-n", ranks.ToString(), program, .. arguments]);

    private static string? FindOnPath(string file) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Select(directory => Path.Combine(directory, file)).FirstOrDefault(File.Exists);

    private static string FindRepositoryRoot()
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
}
