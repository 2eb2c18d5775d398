using System.Diagnostics;
using System.Runtime.InteropServices;
using RingAttention.IO;

namespace RingAttention.IO.Tests;

/// <summary>A fresh folder under the system temp folder, removed with everything in it.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Path = Directory.CreateTempSubdirectory("ringattn-io-").FullName;

    public string Path { get; }

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Element conversions and whole-file writers the tests use to make inputs.</summary>
internal static class TensorBytes
{
    /// <summary>Deterministic values in about [-2, 2], already representable in <paramref name="type"/>.</summary>
    public static float[] Values(long count, ElementType type, int seed)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (long i = 0; i < count; i++)
        {
            values[i] = RoundTo(type, (float)(random.NextDouble() * 4 - 2));
        }
        return values;
    }

    public static float RoundTo(ElementType type, float value) => type switch
    {
        ElementType.Float16 => (float)(Half)value,
        ElementType.BFloat16 => (float)(BFloat16)value,
        _ => value,
    };

    public static byte[] Encode(ElementType type, ReadOnlySpan<float> values)
    {
        switch (type)
        {
            case ElementType.Float32:
                return MemoryMarshal.AsBytes(values).ToArray();
            case ElementType.Float16:
                var halves = new Half[values.Length];
                for (int i = 0; i < values.Length; i++)
                {
                    halves[i] = (Half)values[i];
                }
                return MemoryMarshal.AsBytes(halves.AsSpan()).ToArray();
            default:
                var bits = new ushort[values.Length];
                for (int i = 0; i < values.Length; i++)
                {
                    bits[i] = ((BFloat16)values[i]).Bits;
                }
                return MemoryMarshal.AsBytes(bits.AsSpan()).ToArray();
        }
    }

    public static float[] Decode(ElementType type, ReadOnlySpan<byte> bytes) => type switch
    {
        ElementType.Float32 => MemoryMarshal.Cast<byte, float>(bytes).ToArray(),
        ElementType.Float16 => MemoryMarshal.Cast<byte, Half>(bytes).ToArray().Select(h => (float)h).ToArray(),
        _ => MemoryMarshal.Cast<byte, ushort>(bytes).ToArray().Select(b => (float)BFloat16.FromBits(b)).ToArray(),
    };

    public static void WriteNpy(string path, ElementType type, long[] shape, ReadOnlySpan<float> values)
    {
        using var file = File.Create(path);
        file.Write(NpyFormat.EncodeHeader(type, shape));
        file.Write(Encode(type, values));
    }

    public static void WriteSafetensors(string path, params (string Name, ElementType Type, long[] Shape, float[] Values)[] tensors)
    {
        var (header, _) = SafetensorsFormat.EncodeHeader(tensors.Select(t => (t.Name, t.Type, (IReadOnlyList<long>)t.Shape)).ToArray());
        using var file = File.Create(path);
        file.Write(header);
        foreach (var tensor in tensors)
        {
            file.Write(Encode(tensor.Type, tensor.Values));
        }
    }

    /// <summary>The data of a .npy file we can read, widened to fp32.</summary>
    public static (StoredTensor Tensor, float[] Values) ReadNpy(string path)
    {
        var tensor = NpyFormat.ReadHeader(path);
        var bytes = File.ReadAllBytes(path).AsSpan((int)tensor.DataOffset);
        return (tensor, Decode(tensor.ElementType, bytes));
    }

    /// <summary>[B, H, N, D] → [B, N, H, D] (or back, with the middle axes given in the source's order).</summary>
    public static float[] SwapMiddleAxes(float[] source, int batch, int first, int second, int dim)
    {
        var result = new float[source.Length];
        for (int b = 0; b < batch; b++)
        {
            for (int i = 0; i < first; i++)
            {
                for (int j = 0; j < second; j++)
                {
                    Array.Copy(source, (((long)b * first + i) * second + j) * dim, result, (((long)b * second + j) * first + i) * dim, dim);
                }
            }
        }
        return result;
    }
}

/// <summary>Runs Python scripts with Debian's NumPy (/usr/bin/python3; the python3 on PATH may lack it).</summary>
internal static class NumPy
{
    private const string Python = "/usr/bin/python3";

    private static readonly Lazy<bool> Present = new(() => File.Exists(Python) && Run("import numpy", [], out _, out _) == 0);

    /// <summary>Skips the calling test when NumPy is missing (CI installs python3-numpy, so there it always runs).</summary>
    public static void SkipIfMissing() => Skip.IfNot(Present.Value, $"{Python} has no NumPy (install python3-numpy)");

    /// <summary>Runs <paramref name="script"/> with <paramref name="args"/>, failing the test with its output unless it exits 0.</summary>
    public static string Run(string script, params string[] args)
    {
        int code = Run(script, args, out string stdout, out string stderr);
        Assert.True(code == 0, $"python exited {code}:\n{stdout}\n{stderr}");
        return stdout;
    }

    private static int Run(string script, string[] args, out string stdout, out string stderr)
    {
        var start = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var errorTask = process.StandardError.ReadToEndAsync();
        stdout = process.StandardOutput.ReadToEnd();
        stderr = errorTask.Result;
        process.WaitForExit();
        return process.ExitCode;
    }
}
