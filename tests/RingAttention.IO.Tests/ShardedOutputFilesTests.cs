using RingAttention.Layouts;

namespace RingAttention.IO.Tests;

public sealed class ShardedOutputFilesTests : IDisposable
{
    /// <summary>The job token every "process" of one test job shares.</summary>
    private const long Token = 0x5eed;

    private const int Batch = 2, N = 11, Heads = 3, HeadDim = 5;

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    public static TheoryData<ElementType, TensorLayout, LayoutKind, string> Cases()
    {
        var data = new TheoryData<ElementType, TensorLayout, LayoutKind, string>();
        foreach (var type in new[] { ElementType.Float32, ElementType.Float16, ElementType.BFloat16 })
        {
            foreach (var layout in new[] { TensorLayout.Bshd, TensorLayout.Bhsd })
            {
                foreach (var kind in new[] { LayoutKind.Zigzag, LayoutKind.Striped })
                {
                    data.Add(type, layout, kind, type == ElementType.Float16 ? ".safetensors" : ".npy");
                }
            }
        }
        data.Add(ElementType.Float32, TensorLayout.Bhsd, LayoutKind.Contiguous, ".safetensors");
        return data;
    }

    /// <summary>O and LSE shards written rank by rank come back as the full tensors, in the requested layout.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void ShardsWrittenByEveryRankReadBackAsTheFullTensor(ElementType type, TensorLayout layout, LayoutKind kind, string extension)
    {
        const int ranks = 3;
        var sequence = SequenceLayouts.Create(kind, N, ranks);
        var o = TensorBytes.Values(Batch * N * Heads * HeadDim, type, seed: 3);
        var lse = TensorBytes.Values(Batch * Heads * N, ElementType.Float32, seed: 4);
        var outputs = new[]
        {
            OutputTensor.Attention(_folder["o" + extension], type, layout, Batch, N, Heads, HeadDim),
            OutputTensor.LogSumExp(_folder["lse" + extension], Batch, N, Heads),
        };

        ShardedOutputFiles.Write(outputs, Token, createsFiles: true, ok => ok, writer =>
        {
            for (int rank = 0; rank < ranks; rank++)
            {
                var (oShard, lseShard) = Shards(sequence, rank, o, lse);
                writer.WriteShard(0, sequence, rank, TensorBytes.Encode(type, oShard), TensorLayout.Bshd);
                writer.WriteShard(1, sequence, rank, TensorBytes.Encode(ElementType.Float32, lseShard), TensorLayout.Bhsd);
            }
        });

        var (oTensor, oRead) = Read(outputs[0]);
        Assert.Equal(outputs[0].Geometry.Shape, oTensor.Shape);
        Assert.Equal(type, oTensor.ElementType);
        Assert.Equal(o, layout == TensorLayout.Bshd ? oRead : TensorBytes.SwapMiddleAxes(oRead, Batch, Heads, N, HeadDim));
        var (lseTensor, lseRead) = Read(outputs[1]);
        Assert.Equal([Batch, Heads, N], lseTensor.Shape);
        Assert.Equal(lse, lseRead);
        Assert.Equal(["lse" + extension, "o" + extension], Directory.GetFiles(_folder.Path).Select(Path.GetFileName).Order());
    }

    /// <summary>A run of rows larger than the writer's 4 MiB staging goes out in several chunks, each in its place.</summary>
    [Fact]
    public void RunsLargerThanTheStagingBufferAreWrittenInChunks()
    {
        const int n = 1500, heads = 8, headDim = 128;
        var sequence = SequenceLayouts.Create(LayoutKind.Zigzag, n, 1);
        var o = TensorBytes.Values(n * heads * headDim, ElementType.Float32, seed: 8);
        var output = OutputTensor.Attention(_folder["big.npy"], ElementType.Float32, TensorLayout.Bshd, 1, n, heads, headDim);

        ShardedOutputFiles.Write([output], Token, true, ok => ok, writer =>
            writer.WriteShard(0, sequence, 0, TensorBytes.Encode(ElementType.Float32, o), TensorLayout.Bshd));

        Assert.True(output.Geometry.Elements * 4 > 4 << 20);
        Assert.Equal(o, Read(output).Values);
    }

    /// <summary>Three "processes" (threads) each host one rank and agree through a shared logical-and.</summary>
    [Fact]
    public void SeveralProcessesWriteOneFileAndCommitTogether()
    {
        var sequence = SequenceLayouts.Create(LayoutKind.Zigzag, N, 3);
        var o = TensorBytes.Values(Batch * N * Heads * HeadDim, ElementType.Float32, seed: 5);
        var output = OutputTensor.Attention(_folder["o.npy"], ElementType.Float32, TensorLayout.Bhsd, Batch, N, Heads, HeadDim);
        var agreement = new Agreement(3);

        var errors = RunProcesses(3, rank => ShardedOutputFiles.Write([output], Token, rank == 0, agreement.AllSucceeded, writer =>
            writer.WriteShard(0, sequence, rank, TensorBytes.Encode(ElementType.Float32, Shards(sequence, rank, o, null).O), TensorLayout.Bshd)));

        Assert.All(errors, Assert.Null);
        Assert.Equal(o, TensorBytes.SwapMiddleAxes(Read(output).Values, Batch, Heads, N, HeadDim));
        Assert.False(File.Exists(ShardedOutputFiles.TemporaryPath(output.Path, Token)));
    }

    [Fact]
    public void AFailureOnAnyProcessLeavesThePreviousFileAndRemovesTheTemporary()
    {
        var sequence = SequenceLayouts.Create(LayoutKind.Striped, N, 3);
        var output = OutputTensor.Attention(_folder["o.npy"], ElementType.Float32, TensorLayout.Bshd, Batch, N, Heads, HeadDim);
        File.WriteAllText(output.Path, "previous result");
        var agreement = new Agreement(3);
        var shard = new byte[Batch * sequence.LocalLength(0) * Heads * HeadDim * 4];

        var errors = RunProcesses(3, rank => ShardedOutputFiles.Write([output], Token, rank == 0, agreement.AllSucceeded, writer =>
        {
            writer.WriteShard(0, sequence, rank, shard.AsSpan(0, Batch * sequence.LocalLength(rank) * Heads * HeadDim * 4), TensorLayout.Bshd);
            if (rank == 2)
            {
                throw new IOException("disk on fire");
            }
        }));

        Assert.Equal("disk on fire", errors[2]!.Message);
        Assert.Contains("another process failed while writing", errors[0]!.Message);
        Assert.Contains("another process failed while writing", errors[1]!.Message);
        Assert.Equal("previous result", File.ReadAllText(output.Path));
        Assert.Single(Directory.GetFiles(_folder.Path));
    }

    [Fact]
    public void AnInterruptedWriteLeavesThePreviousFileIntact()
    {
        var sequence = SequenceLayouts.Create(LayoutKind.Contiguous, N, 2);
        var o = TensorBytes.Values(Batch * N * Heads * HeadDim, ElementType.Float32, seed: 6);
        var output = OutputTensor.Attention(_folder["o.safetensors"], ElementType.Float32, TensorLayout.Bshd, Batch, N, Heads, HeadDim);
        ShardedOutputFiles.Write([output], Token, true, ok => ok, writer => WriteAll(writer, sequence, o));
        var previous = File.ReadAllBytes(output.Path);

        var e = Assert.Throws<InvalidOperationException>(() => ShardedOutputFiles.Write([output], Token, true, ok => ok, writer =>
        {
            writer.WriteShard(0, sequence, 0, TensorBytes.Encode(ElementType.Float32, new float[Batch * sequence.LocalLength(0) * Heads * HeadDim]), TensorLayout.Bshd);
            throw new InvalidOperationException("interrupted after rank 0");
        }));

        Assert.Equal("interrupted after rank 0", e.Message);
        Assert.Equal(previous, File.ReadAllBytes(output.Path));
        Assert.Single(Directory.GetFiles(_folder.Path));
    }

    [Fact]
    public void AFailureCreatingTheFilesReachesEveryProcess()
    {
        var output = OutputTensor.Attention(_folder["missing/o.npy"], ElementType.Float32, TensorLayout.Bshd, Batch, N, Heads, HeadDim);
        var agreement = new Agreement(2);
        int calls = 0;

        var errors = RunProcesses(2, rank => ShardedOutputFiles.Write([output], Token, rank == 0, agreement.AllSucceeded, _ => Interlocked.Increment(ref calls)));

        var creator = Assert.IsType<TensorFileException>(errors[0]);
        Assert.Equal("folder", creator.Field);
        Assert.Contains("another process failed while creating", errors[1]!.Message);
        Assert.Equal(0, calls);
    }

    [Fact]
    public void AShardOfTheWrongSizeIsRejectedAndNothingIsWritten()
    {
        var sequence = SequenceLayouts.Create(LayoutKind.Zigzag, N, 2);
        var output = OutputTensor.Attention(_folder["o.npy"], ElementType.Float16, TensorLayout.Bshd, Batch, N, Heads, HeadDim);
        var e = Assert.Throws<ArgumentException>(() => ShardedOutputFiles.Write([output], Token, true, ok => ok, writer =>
            writer.WriteShard(0, sequence, 0, new byte[10], TensorLayout.Bshd)));
        Assert.Equal("shard", e.ParamName);
        Assert.Empty(Directory.GetFiles(_folder.Path));
    }

    /// <summary>A symlink planted under the temporary name is never followed: creation fails and its target is untouched.</summary>
    [Fact]
    public void ASymlinkPlantedAtTheTemporaryNameIsNotFollowed()
    {
        var sequence = SequenceLayouts.Create(LayoutKind.Zigzag, N, 2);
        var output = OutputTensor.Attention(_folder["o.npy"], ElementType.Float32, TensorLayout.Bshd, Batch, N, Heads, HeadDim);
        string victim = _folder["victim.txt"];
        File.WriteAllText(victim, "precious");
        File.CreateSymbolicLink(ShardedOutputFiles.TemporaryPath(output.Path, Token), victim);

        var e = Assert.ThrowsAny<IOException>(() => ShardedOutputFiles.Write([output], Token, true, ok => ok, writer => WriteAll(writer, sequence, new float[Batch * N * Heads * HeadDim])));

        Assert.Contains("already exists", e.Message);
        Assert.Equal("precious", File.ReadAllText(victim));
        Assert.False(File.Exists(output.Path));
        Assert.NotNull(new FileInfo(ShardedOutputFiles.TemporaryPath(output.Path, Token)).LinkTarget);
    }

    /// <summary>Two jobs writing the same target at once use different temporary files; the target ends as one job's complete result.</summary>
    [Fact]
    public async Task ConcurrentJobsWritingOneTargetNeverMixTheirRows()
    {
        var sequence = SequenceLayouts.Create(LayoutKind.Zigzag, N, 2);
        var output = OutputTensor.Attention(_folder["o.npy"], ElementType.Float32, TensorLayout.Bshd, Batch, N, Heads, HeadDim);
        var results = new[] { TensorBytes.Values(Batch * N * Heads * HeadDim, ElementType.Float32, seed: 11), TensorBytes.Values(Batch * N * Heads * HeadDim, ElementType.Float32, seed: 12) };
        using var bothCreated = new Barrier(2);
        var jobs = results.Select((o, job) => Task.Run(() => ShardedOutputFiles.Write([output], Token + job, true, ok => ok, writer =>
        {
            bothCreated.SignalAndWait();
            WriteAll(writer, sequence, o);
        }))).ToArray();
        await Task.WhenAll(jobs);

        var written = Read(output).Values;
        Assert.True(written.SequenceEqual(results[0]) || written.SequenceEqual(results[1]), "the target holds one job's complete result");
        Assert.Single(Directory.GetFiles(_folder.Path));
    }

    private static void WriteAll(ShardWriter writer, ISequenceLayout sequence, float[] o)
    {
        for (int rank = 0; rank < sequence.Ranks; rank++)
        {
            writer.WriteShard(0, sequence, rank, TensorBytes.Encode(ElementType.Float32, Shards(sequence, rank, o, null).O), TensorLayout.Bshd);
        }
    }

    /// <summary>A rank's O shard [B, local, H, D] and LSE shard [B, H, local], cut from the full tensors.</summary>
    private static (float[] O, float[] Lse) Shards(ISequenceLayout sequence, int rank, float[] o, float[]? lse)
    {
        int local = sequence.LocalLength(rank);
        var oShard = new float[Batch * local * Heads * HeadDim];
        sequence.Shard(rank, o, oShard, Batch, Heads * HeadDim);
        var lseShard = new float[Batch * Heads * local];
        if (lse is not null)
        {
            sequence.Shard(rank, lse, lseShard, Batch * Heads, 1);
        }
        return (oShard, lseShard);
    }

    private static (StoredTensor Tensor, float[] Values) Read(OutputTensor output)
    {
        if (TensorFiles.FormatOf(output.Path) == TensorFileFormat.Npy)
        {
            return TensorBytes.ReadNpy(output.Path);
        }
        var tensor = SafetensorsFormat.ReadHeader(output.Path).Tensor(output.Name);
        return (tensor, TensorBytes.Decode(tensor.ElementType, File.ReadAllBytes(output.Path).AsSpan((int)tensor.DataOffset, (int)tensor.DataBytes)));
    }

    /// <summary>Runs one thread per emulated process; returns each one's exception (null on success).</summary>
    private static Exception?[] RunProcesses(int count, Action<int> body)
    {
        var errors = new Exception?[count];
        var threads = Enumerable.Range(0, count).Select(rank => new Thread(() =>
        {
            try
            {
                body(rank);
            }
            catch (Exception e)
            {
                errors[rank] = e;
            }
        })).ToArray();
        foreach (var thread in threads)
        {
            thread.Start();
        }
        foreach (var thread in threads)
        {
            Assert.True(thread.Join(TimeSpan.FromSeconds(30)), "an emulated process hung in the agreement");
        }
        return errors;
    }

    /// <summary>A logical-and allreduce among threads: what an MPI host's AllSucceeded does among processes.</summary>
    private sealed class Agreement(int parties)
    {
        private readonly Barrier _barrier = new(parties);
        private readonly int[] _failures = new int[16];
        private readonly ThreadLocal<int> _call = new(() => 0);

        public bool AllSucceeded(bool ok)
        {
            int call = _call.Value++;
            if (!ok)
            {
                Interlocked.Increment(ref _failures[call]);
            }
            _barrier.SignalAndWait();
            return Volatile.Read(ref _failures[call]) == 0;
        }
    }
}
