using System.Runtime.InteropServices;
using RingAttention.IO;

namespace RingAttention.Mpi.Tests;

/// <summary>
/// Tensors from files under mpiexec: every process maps the .npy inputs and reads only its rank's rows, every
/// process writes its rows of O and LSE into the shared temporary file, and the result must be byte for byte the
/// files the emulation mode writes from the same inputs.
/// </summary>
public sealed class FileRunTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);
    private readonly string _folder = Directory.CreateTempSubdirectory("ringattn-mpi-files-").FullName;

    [SkippableTheory]
    [InlineData("openmpi", "Float32")]
    [InlineData("mpich", "BFloat16")]
    public void Mpi_reads_its_shards_and_writes_the_same_files_as_emulation(string family, string dtype)
    {
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        var type = Enum.Parse<ElementType>(dtype);
        const int batch = 2, heads = 4, kvHeads = 2, n = 203, headDim = 24;
        var random = new Random(11);
        WriteNpy("q.npy", type, [batch, heads, n, headDim], random);
        WriteNpy("k.npy", type, [batch, kvHeads, n, headDim], random);
        WriteNpy("v.npy", type, [batch, kvHeads, n, headDim], random);

        string[] Arguments(string tag) =>
        [
            "--q", Path.Combine(_folder, "q.npy"), "--k", Path.Combine(_folder, "k.npy"), "--v", Path.Combine(_folder, "v.npy"),
            "--input-layout", "bhsd", "--causal", "--layout", "zigzag", "--verify-rows", "6", "--threads", "1", "--json",
            "--out", Path.Combine(_folder, $"o-{tag}.npy"), "--lse-out", Path.Combine(_folder, $"lse-{tag}.npy"),
        ];
        var emulation = Ringattn.Emulation(3, Arguments("emulation"), Limit);
        Assert.True(emulation.ExitCode == 0, emulation.ToString());
        var mpi = Ringattn.Mpi(launcher, 3, Arguments("mpi"), Limit);
        Assert.True(mpi.ExitCode == 0, mpi.ToString());
        Assert.True(Ringattn.Json(mpi).GetProperty("Verified").GetBoolean(), mpi.ToString());

        Assert.Equal(File.ReadAllBytes(Path.Combine(_folder, "o-emulation.npy")), File.ReadAllBytes(Path.Combine(_folder, "o-mpi.npy")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_folder, "lse-emulation.npy")), File.ReadAllBytes(Path.Combine(_folder, "lse-mpi.npy")));
        Assert.Empty(Directory.GetFiles(_folder, "*partial*"));
    }

    private void WriteNpy(string name, ElementType type, long[] shape, Random random)
    {
        int count = (int)shape.Aggregate(1L, (a, b) => a * b);
        var values = Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        byte[] data = type switch
        {
            ElementType.Float32 => MemoryMarshal.AsBytes(values.AsSpan()).ToArray(),
            ElementType.BFloat16 => MemoryMarshal.AsBytes(values.Select(v => ((BFloat16)v).Bits).ToArray().AsSpan()).ToArray(),
            _ => MemoryMarshal.AsBytes(values.Select(v => (Half)v).ToArray().AsSpan()).ToArray(),
        };
        using var file = File.Create(Path.Combine(_folder, name));
        file.Write(NpyFormat.EncodeHeader(type, shape));
        file.Write(data);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
