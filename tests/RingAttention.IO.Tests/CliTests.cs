using System.Diagnostics;
using System.Runtime.InteropServices;
using Xunit.Abstractions;

namespace RingAttention.IO.Tests;

/// <summary>
/// <c>ringattn run</c> end to end on files NumPy writes, against a float64 reference NumPy computes independently
/// (dense softmax over the full score matrix, no online softmax, no ring).
/// </summary>
public sealed class CliTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>float64 attention in NumPy: reads q, k, v (any layout), writes O [B, H, N, D] and LSE [B, H, N] as raw float64.</summary>
    private const string ReferenceFunction = """
        import numpy as np
        def reference(q, k, v, causal, bshd):
            q, k, v = (np.asarray(t, dtype=np.float64) for t in (q, k, v))
            if bshd:
                q, k, v = (t.transpose(0, 2, 1, 3) for t in (q, k, v))
            group = q.shape[1] // k.shape[1]
            k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
            n, d = q.shape[2], q.shape[3]
            s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
            if causal:
                s = np.where(np.tril(np.ones((n, n), dtype=bool)), s, -np.inf)
            m = s.max(axis=-1, keepdims=True)
            p = np.exp(s - m)
            l = p.sum(axis=-1, keepdims=True)
            return p @ v / l, (m + np.log(l))[..., 0]
        """;

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>The acceptance run: bhsd .npy inputs, causal, three ranks, odd lengths and GQA.</summary>
    [SkippableTheory]
    [InlineData(1, 2, 2, 16)]
    [InlineData(7, 2, 2, 16)]
    [InlineData(129, 4, 4, 32)]
    [InlineData(1000, 4, 4, 64)]
    [InlineData(1000, 8, 2, 64)]
    public void NumPyInputsMatchAFloat64NumPyReferenceTo1e5(int n, int heads, int kvHeads, int headDim)
    {
        NumPy.SkipIfMissing();
        NumPy.Run(ReferenceFunction + """

            import sys
            folder, n, h, hk, d = sys.argv[1], *map(int, sys.argv[2:])
            rng = np.random.default_rng(n * 100 + h * 10 + hk)
            for name, heads in (("q", h), ("k", hk), ("v", hk)):
                np.save(f"{folder}/{name}.npy", rng.standard_normal((1, heads, n, d)).astype(np.float32))
            o, lse = reference(np.load(f"{folder}/q.npy"), np.load(f"{folder}/k.npy"), np.load(f"{folder}/v.npy"), True, False)
            o.tofile(f"{folder}/o_ref.f64")
            lse.tofile(f"{folder}/lse_ref.f64")
            """, _folder.Path, $"{n}", $"{heads}", $"{kvHeads}", $"{headDim}");

        var (code, stdout, stderr) = Ringattn("run", "--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--input-layout", "bhsd", "--causal",
            "--out", "o.npy", "--lse-out", "lse.npy", "--ranks", "3");
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");

        var (o, oValues) = TensorBytes.ReadNpy(_folder["o.npy"]);
        var (lse, lseValues) = TensorBytes.ReadNpy(_folder["lse.npy"]);
        Assert.Equal([1L, heads, n, headDim], o.Shape);
        Assert.Equal([1L, heads, n], lse.Shape);
        Assert.Equal((ElementType.Float32, ElementType.Float32), (o.ElementType, lse.ElementType));
        double oError = MaxAbsError(oValues, ReadFloat64(_folder["o_ref.f64"]));
        double lseError = MaxAbsError(lseValues, ReadFloat64(_folder["lse_ref.f64"]));
        output.WriteLine($"N={n} H={heads} Hkv={kvHeads} D={headDim}: O max abs err {oError:E2}, LSE max abs err {lseError:E2}");
        Assert.InRange(oError, 0, 1e-5);
        Assert.InRange(lseError, 0, 1e-5);
        Assert.Equal(["k.npy", "lse.npy", "lse_ref.f64", "o.npy", "o_ref.f64", "q.npy", "v.npy"], Directory.GetFiles(_folder.Path).Select(Path.GetFileName).Order());
    }

    /// <summary>
    /// bfloat16 Q, K, V in one safetensors file laid out by hand in Python (an independent writer of the format),
    /// bshd order, custom tensor names, GQA, non-causal: O comes back in bf16 and bshd, LSE in fp32.
    /// </summary>
    [SkippableFact]
    public void SafetensorsBFloat16InputsInBshdOrder()
    {
        NumPy.SkipIfMissing();
        NumPy.Run(ReferenceFunction + """

            import sys, json, struct
            folder = sys.argv[1]
            rng = np.random.default_rng(3)
            def bf16_bits(x):
                bits = x.astype(np.float32).view(np.uint32)
                return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
            shapes = {"query": (2, 77, 4, 32), "key": (2, 77, 2, 32), "value": (2, 77, 2, 32)}
            bits = {name: bf16_bits(rng.standard_normal(shape)) for name, shape in shapes.items()}
            header, offset = {}, 0
            for name, b in bits.items():
                header[name] = {"dtype": "BF16", "shape": list(b.shape), "data_offsets": [offset, offset + b.nbytes]}
                offset += b.nbytes
            text = json.dumps(header).encode()
            with open(f"{folder}/qkv.safetensors", "wb") as f:
                f.write(struct.pack("<Q", len(text)) + text)
                for b in bits.values():
                    f.write(b.tobytes())
            widened = {name: (b.astype(np.uint32) << 16).view(np.float32) for name, b in bits.items()}
            o, lse = reference(widened["query"], widened["key"], widened["value"], False, True)
            o.transpose(0, 2, 1, 3).tofile(f"{folder}/o_ref.f64")
            lse.tofile(f"{folder}/lse_ref.f64")
            """, _folder.Path);

        var (code, stdout, stderr) = Ringattn("run", "--input", "qkv.safetensors", "--q-name", "query", "--k-name", "key", "--v-name", "value",
            "--input-layout", "bshd", "--out", "o.safetensors", "--lse-out", "lse.npy", "--ranks", "4", "--layout", "striped", "--heads", "4");
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");

        var header = SafetensorsFormat.ReadHeader(_folder["o.safetensors"]);
        var o = header.Tensor("o");
        Assert.Equal((ElementType.BFloat16, "bshd"), (o.ElementType, header.Metadata["layout"]));
        Assert.Equal([2L, 77, 4, 32], o.Shape);
        var oValues = TensorBytes.Decode(o.ElementType, File.ReadAllBytes(o.Path).AsSpan((int)o.DataOffset, (int)o.DataBytes));
        var oReference = ReadFloat64(_folder["o_ref.f64"]);
        // bf16 output: rounding O to 8 significant bits costs up to half an ulp, 2^-8 of |O|, on top of the fp32 error.
        for (int i = 0; i < oValues.Length; i++)
        {
            Assert.InRange(Math.Abs(oValues[i] - oReference[i]), 0, 1e-5 + Math.Pow(2, -8) * Math.Abs(oReference[i]));
        }
        Assert.InRange(MaxAbsError(TensorBytes.ReadNpy(_folder["lse.npy"]).Values, ReadFloat64(_folder["lse_ref.f64"])), 0, 1e-5);
    }

    [SkippableFact]
    public void BadFilesExitWithCodeTwoNamingTheFileAndFieldAndWriteNothing()
    {
        NumPy.SkipIfMissing();
        NumPy.Run("""
            import numpy as np, sys
            folder = sys.argv[1]
            x = np.zeros((1, 5, 2, 8), dtype=np.float32)
            np.save(f"{folder}/q.npy", x)
            np.save(f"{folder}/k.npy", x)
            np.save(f"{folder}/v.npy", x)
            np.save(f"{folder}/fortran.npy", np.asfortranarray(x))
            np.save(f"{folder}/big.npy", x.astype(">f4"))
            np.save(f"{folder}/f64.npy", x.astype(np.float64))
            np.save(f"{folder}/short.npy", np.zeros((1, 4, 2, 8), dtype=np.float32))
            with open(f"{folder}/truncated.npy", "wb") as f:
                f.write(open(f"{folder}/q.npy", "rb").read()[:-10])
            """, _folder.Path);
        File.WriteAllText(_folder["o.npy"], "previous");

        foreach (var (args, expected) in new (string[], string)[]
        {
            (["--q", "q.npy", "--k", "truncated.npy", "--v", "v.npy"], "truncated.npy: data: truncated"),
            (["--q", "q.npy", "--k", "k.npy", "--v", "fortran.npy"], "fortran.npy: fortran_order: expected False"),
            (["--q", "big.npy", "--k", "k.npy", "--v", "v.npy"], "big.npy: descr: expected little-endian"),
            (["--q", "q.npy", "--k", "f64.npy", "--v", "v.npy"], "f64.npy: descr: expected '<f4'"),
            (["--q", "q.npy", "--k", "k.npy", "--v", "short.npy"], "short.npy: shape: expected seq 5"),
            (["--q", "q.npy", "--k", "k.npy", "--v", "absent.npy"], "absent.npy: file: does not exist"),
            (["--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--heads", "4"], "--heads: 4 conflicts with the input files"),
            (["--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--lse-out", "nowhere/lse.npy"], "nowhere/lse.npy: folder:"),
            (["--input", "q.npy"], "--input: expected a .safetensors file"),
            (["--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--lse-out", "o.npy"], "--lse-out: expected a file other than --out"),
        })
        {
            var (code, stdout, stderr) = Ringattn(["run", .. args, "--out", "o.npy", "--ranks", "2"]);
            Assert.True(code == 2, $"{string.Join(' ', args)}: exit {code}\n{stdout}\n{stderr}");
            Assert.Contains(expected, stderr);
            Assert.Equal("previous", File.ReadAllText(_folder["o.npy"]));
        }
        Assert.Empty(Directory.GetFiles(_folder.Path, ".*"));
    }

    private (int Code, string Stdout, string Stderr) Ringattn(params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "ringattn"))
        {
            WorkingDirectory = _folder.Path,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var errorTask = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), "ringattn did not finish within 2 minutes");
        return (process.ExitCode, stdout, errorTask.Result);
    }

    private static double[] ReadFloat64(string path) => MemoryMarshal.Cast<byte, double>(File.ReadAllBytes(path)).ToArray();

    private static double MaxAbsError(float[] actual, double[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        return actual.Zip(expected, (a, e) => float.IsNaN(a) ? double.PositiveInfinity : Math.Abs(a - e)).Max();
    }
}
