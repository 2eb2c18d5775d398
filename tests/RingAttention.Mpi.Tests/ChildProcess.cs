using System.Diagnostics;
using System.Text;

namespace RingAttention.Mpi.Tests;

/// <summary>What a child process did.</summary>
internal sealed record ChildResult(int ExitCode, string StandardOutput, string StandardError, TimeSpan Elapsed, bool TimedOut)
{
    public string Output => StandardOutput + StandardError;

    public override string ToString() =>
        $"exit {ExitCode} after {Elapsed.TotalSeconds:F1} s{(TimedOut ? " (killed: timed out)" : "")}\n--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";
}

/// <summary>
/// Runs a command with a hard time limit, then kills everything it started. MPI launchers put ranks in process
/// groups (Open MPI) and even sessions (MPICH's proxies) of their own, so a process-group kill is not enough:
/// every child gets a unique tag in its environment, which its descendants inherit, and after the command ends
/// (or its time is up) every process still carrying the tag is killed with SIGKILL, as are the process tree and
/// its group. No test can leave a job running or wait on one forever.
/// </summary>
internal static class ChildProcess
{
    private const string TagVariable = "RINGATTN_TEST_JOB";

    /// <summary>Variables of the test host's own launcher (when tests themselves run under MPI) that must not leak into children.</summary>
    private static readonly string[] LauncherPrefixes = ["OMPI_", "PMI_", "PMIX_", "HYDRA_", "MPI_LOCALRANKID", "MPI_LOCALNRANKS", "RINGATTN_FAULT", "RINGATTN_MPI_LIBRARY"];

    public static ChildResult Run(string file, IEnumerable<string> arguments, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        string tag = Guid.NewGuid().ToString("N");
        var start = new ProcessStartInfo("setsid")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(file);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (string name in start.Environment.Keys.Where(k => LauncherPrefixes.Any(p => k.StartsWith(p, StringComparison.Ordinal))).ToList())
        {
            start.Environment.Remove(name);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        start.Environment[TagVariable] = tag;

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        bool exited = process.WaitForExit(timeout);
        if (!exited)
        {
            KillTree(process);
        }
        KillTagged(tag);
        process.WaitForExit();
        var elapsed = clock.Elapsed;
        // Pipes close when the last holder dies; every holder carried the tag.
        Task.WaitAll([stdout, stderr], TimeSpan.FromSeconds(10));
        return new ChildResult(process.ExitCode, Completed(stdout), Completed(stderr), elapsed, !exited);
    }

    private static string Completed(Task<string> output) => output.IsCompletedSuccessfully ? output.Result : "(output not drained)";

    private static void KillTree(Process process)
    {
        try
        {
            // setsid made the child a process-group leader: its pid is the group's id.
            NativeLibc.Kill(-process.Id, NativeLibc.SigKill);
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private static void KillTagged(string tag)
    {
        byte[] marker = Encoding.ASCII.GetBytes($"{TagVariable}={tag}\0");
        for (int round = 0; round < 3; round++)
        {
            bool found = false;
            foreach (string directory in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(directory), out int pid) || pid == Environment.ProcessId)
                {
                    continue;
                }
                try
                {
                    byte[] environ = File.ReadAllBytes(Path.Combine(directory, "environ"));
                    if (environ.AsSpan().IndexOf(marker) >= 0)
                    {
                        NativeLibc.Kill(pid, NativeLibc.SigKill);
                        found = true;
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // Exited meanwhile, or not ours to read.
                }
            }
            if (!found)
            {
                return;
            }
            Thread.Sleep(100);
        }
    }
}
