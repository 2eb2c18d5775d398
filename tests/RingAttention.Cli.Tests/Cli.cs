using System.Diagnostics;
using System.Text;

namespace RingAttention.Cli.Tests;

/// <summary>Runs <c>ringattn</c> in this process (console redirected) or as a child process (for concurrency).</summary>
internal static class Cli
{
    /// <summary>Test classes that redirect the console share this collection, so they never run at the same time.</summary>
    public const string Console = "console";

    public static (int Exit, string Stdout, string Stderr) Invoke(params string[] args)
    {
        var (oldOut, oldError) = (System.Console.Out, System.Console.Error);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        System.Console.SetOut(stdout);
        System.Console.SetError(stderr);
        // Spectre.Console keeps the writer it first saw: give it this run's.
        var oldAnsi = Spectre.Console.AnsiConsole.Console;
        Spectre.Console.AnsiConsole.Console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
        {
            Out = new Spectre.Console.AnsiConsoleOutput(stdout),
            Ansi = Spectre.Console.AnsiSupport.No,
            ColorSystem = Spectre.Console.ColorSystemSupport.NoColors,
            Interactive = Spectre.Console.InteractionSupport.No,
        });
        try
        {
            int exit = RingAttnCli.Run(args);
            return (exit, stdout.ToString(), stderr.ToString());
        }
        finally
        {
            Spectre.Console.AnsiConsole.Console = oldAnsi;
            System.Console.SetOut(oldOut);
            System.Console.SetError(oldError);
        }
    }

    /// <summary>Starts the built ringattn in <paramref name="folder"/>; the caller waits.</summary>
    public static Process Start(string folder, params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "ringattn"))
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        return Process.Start(start)!;
    }

    /// <summary>Waits for <paramref name="process"/> (two minutes at most) and returns its exit code and output.</summary>
    public static (int Exit, string Stdout, string Stderr) Finish(Process process)
    {
        var error = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), "ringattn did not finish within 2 minutes");
        return (process.ExitCode, stdout, error.Result);
    }
}

/// <summary>A temporary folder, removed with everything in it.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("ringattn-cli-tests-").FullName;

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Writes fp32 .npy files (format 1.0), enough for the CLI's file tests.</summary>
internal static class Npy
{
    public static void Write(string path, long[] shape, ReadOnlySpan<float> values, string descr = "<f4")
    {
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({string.Join(", ", shape)}{(shape.Length == 1 ? "," : "")}), }}";
        int total = (10 + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(total - 10 - 1) + "\n";
        using var file = File.Create(path);
        file.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        file.Write(BitConverter.GetBytes((ushort)header.Length));
        file.Write(Encoding.Latin1.GetBytes(header));
        file.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
    }

    /// <summary>Q, K, V of shape [1, n, heads, dim] (bshd) with values from a fixed pseudo-random sequence.</summary>
    public static void WriteQkv(TempFolder folder, int n, int heads, int dim, Action<float[], float[], float[]>? edit = null)
    {
        var random = new Random(5);
        float[] Make() => Enumerable.Range(0, n * heads * dim).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var (q, k, v) = (Make(), Make(), Make());
        edit?.Invoke(q, k, v);
        Write(folder["q.npy"], [1, n, heads, dim], q);
        Write(folder["k.npy"], [1, n, heads, dim], k);
        Write(folder["v.npy"], [1, n, heads, dim], v);
    }

    /// <summary>The fp32 data of a .npy file ringattn wrote.</summary>
    public static float[] ReadData(string path)
    {
        var bytes = File.ReadAllBytes(path);
        int headerLength = BitConverter.ToUInt16(bytes, 8);
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes.AsSpan(10 + headerLength)).ToArray();
    }
}
