using System.Runtime.InteropServices;
using RingAttention.Cuda.Decode;
using RingAttention.Decode;
using RingAttention.Kernels;
using RingAttention.Tests;
using Xunit.Abstractions;

namespace RingAttention.Cuda.Tests;

/// <summary>
/// The CUDA split-KV decode kernel and its combine against the float64 reference, on a GPU or the software GPU
/// (tools/gpu-emulator; sizes are small because it is slow). The cache holds every position of a TestProblem in a
/// shuffled order (a shard's positions are explicit and need not be sorted), the queries are its last T tokens, so
/// the kernel's partial over the whole cache is full causal attention for those rows, the T tokens attending
/// causally to each other.
/// </summary>
public sealed class DecodeKernelTests(ITestOutputHelper output)
{
    private const int Length = 150;

    public static TheoryData<ElementType, int, int, int, int, int?> Cases() => new()
    {
        // storage type, head dim, tokens T, heads, kv heads, keys per split (null: the kernel's own choice)
        { ElementType.BFloat16, 64, 1, 4, 2, 64 },
        { ElementType.Float16, 128, 4, 4, 1, 32 },
        { ElementType.Float32, 40, 4, 2, 2, null },
        { ElementType.BFloat16, 128, 1, 8, 1, null },
        { ElementType.Float16, 64, 4, 8, 1, 96 },
    };

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void PartialOverAShuffledCacheMatchesTheFloat64Reference(ElementType type, int headDim, int tokens, int heads, int kvHeads, int? keysPerSplit)
    {
        Requirements.Gpu();
        using var gpu = CudaBackend.Create();
        var options = new AttentionOptions { Batch = 2, Heads = heads, KvHeads = kvHeads, HeadDim = headDim, Causal = true, ElementType = type };
        var problem = new TestProblem(options, Length);
        var order = Enumerable.Range(0, Length).OrderBy(i => (i * 7919) % 151).ToArray();
        using var cache = Cache(problem, order);
        using var kernel = new CudaDecodeKernel(gpu, keysPerSplit);
        var (o, lse) = Run(gpu, kernel, problem, cache, tokens);

        var (referenceO, referenceLse) = problem.Reference;
        var tolerance = problem.Tolerance;
        double errorO = 0, errorLse = 0;
        for (int b = 0; b < options.Batch; b++)
        {
            for (int t = 0; t < tokens; t++)
            {
                int position = Length - tokens + t;
                for (int h = 0; h < heads; h++)
                {
                    int row = (b * tokens + t) * heads + h;
                    errorLse = Math.Max(errorLse, Math.Abs(lse[row] - referenceLse[(b * heads + h) * Length + position]));
                    for (int c = 0; c < headDim; c++)
                    {
                        double expected = referenceO[((b * Length + position) * heads + h) * headDim + c];
                        errorO = Math.Max(errorO, float.IsNaN(o[row * headDim + c]) ? double.PositiveInfinity : Math.Abs(o[row * headDim + c] - expected));
                    }
                }
            }
        }
        output.WriteLine($"{type} d={headDim} T={tokens} heads {heads}/{kvHeads} keys/split {keysPerSplit?.ToString() ?? "auto"}: O error {errorO:E2} (allowed {tolerance.O:E2}), LSE error {errorLse:E2} (allowed {tolerance.Lse:E2})");
        Assert.True(errorO <= tolerance.O, $"O error {errorO:E3} above {tolerance.O:E3}");
        Assert.True(errorLse <= tolerance.Lse, $"LSE error {errorLse:E3} above {tolerance.Lse:E3}");
    }

    [SkippableTheory]
    [InlineData(ElementType.BFloat16, 64)]
    [InlineData(ElementType.Float32, 24)]
    public void AShardWithNoVisibleKeyGivesZeroAndMinusInfinity(ElementType type, int headDim)
    {
        Requirements.Gpu();
        using var gpu = CudaBackend.Create();
        var options = new AttentionOptions { Batch = 2, Heads = 4, KvHeads = 2, HeadDim = headDim, Causal = true, ElementType = type };
        var problem = new TestProblem(options, 80);
        using var kernel = new CudaDecodeKernel(gpu, 32);
        // An empty shard, then a shard holding only positions after the queries (40..79 while the queries sit at 38, 39).
        using var empty = Cache(problem, []);
        using var future = Cache(problem, Enumerable.Range(40, 40).ToArray());
        foreach (var cache in new[] { empty, future })
        {
            var (o, lse) = Run(gpu, kernel, problem, cache, tokens: 2, lastPosition: 39);
            Assert.All(lse, value => Assert.True(float.IsNegativeInfinity(value), $"LSE {value}, expected -inf"));
            Assert.All(o, value => Assert.Equal(0f, value));
        }
    }

    [SkippableFact]
    public void AppendsReachTheDeviceCopyAndAGrownCacheIsUploadedAgain()
    {
        Requirements.Gpu();
        using var gpu = CudaBackend.Create();
        var options = new AttentionOptions { Batch = 1, Heads = 2, KvHeads = 1, HeadDim = 64, Causal = true, ElementType = ElementType.BFloat16 };
        var problem = new TestProblem(options, 60);
        using var kernel = new CudaDecodeKernel(gpu, 32);
        using var cache = new KvCacheShard(options, capacity: 16, maxLength: null);
        var (k, v) = (BFloat16s(problem.K), BFloat16s(problem.V));
        var (referenceO, referenceLse) = problem.Reference;
        // Grows from 16 rows (moving them) while the kernel runs between appends: every call must see every row.
        for (int last = 9; last < 60; last += 10)
        {
            while (cache.Length <= last)
            {
                cache.Append<BFloat16>(k, v, 60, cache.Length, cache.Length);
            }
            var (o, lse) = Run(gpu, kernel, problem, cache, tokens: 1, lastPosition: last);
            for (int h = 0; h < 2; h++)
            {
                Assert.True(Math.Abs(lse[h] - referenceLse[h * 60 + last]) <= problem.Tolerance.Lse, $"position {last}, head {h}: LSE {lse[h]}, reference {referenceLse[h * 60 + last]}");
                for (int c = 0; c < 64; c++)
                {
                    Assert.True(Math.Abs(o[h * 64 + c] - referenceO[(last * 2 + h) * 64 + c]) <= problem.Tolerance.O, $"position {last}, head {h}, column {c}");
                }
            }
        }
    }

    [SkippableTheory]
    [InlineData(ElementType.BFloat16, 64)]
    [InlineData(ElementType.Float32, 24)]
    public void NaNInAVisibleKeyPropagatesToItsGroupAndNowhereElse(ElementType type, int headDim)
    {
        Requirements.Gpu();
        using var gpu = CudaBackend.Create();
        var options = new AttentionOptions { Batch = 1, Heads = 4, KvHeads = 2, HeadDim = headDim, Causal = true, ElementType = type };
        var problem = new TestProblem(options, 70);
        // Position 5, KV head 1, one element of K: every query row of heads 2 and 3 sees it; heads 0 and 1 do not read it.
        problem.K[(5 * 2 + 1) * headDim + 3] = float.NaN;
        using var kernel = new CudaDecodeKernel(gpu, 32);
        using var cache = Cache(problem, Enumerable.Range(0, 70).ToArray());
        var (o, lse) = Run(gpu, kernel, problem, cache, tokens: 2);
        for (int t = 0; t < 2; t++)
        {
            for (int h = 0; h < 4; h++)
            {
                int row = t * 4 + h;
                bool poisoned = h >= 2;
                Assert.True(float.IsNaN(lse[row]) == poisoned, $"token {t}, head {h}: LSE {lse[row]}");
                Assert.True(float.IsNaN(o[row * headDim]) == poisoned, $"token {t}, head {h}: O {o[row * headDim]}");
            }
        }
    }

    /// <summary>A cache holding the problem's K/V rows at <paramref name="positions"/>, in that order.</summary>
    internal static KvCacheShard Cache(TestProblem problem, int[] positions)
    {
        var options = problem.Options;
        var cache = new KvCacheShard(options, positions.Length, maxLength: null);
        foreach (int position in positions)
        {
            switch (options.ElementType)
            {
                case ElementType.Float16:
                    cache.Append<Half>(problem.K.Select(x => (Half)x).ToArray(), problem.V.Select(x => (Half)x).ToArray(), problem.N, position, position);
                    break;
                case ElementType.BFloat16:
                    cache.Append<BFloat16>(BFloat16s(problem.K), BFloat16s(problem.V), problem.N, position, position);
                    break;
                default:
                    cache.Append<float>(problem.K, problem.V, problem.N, position, position);
                    break;
            }
        }
        return cache;
    }

    /// <summary>
    /// One kernel call for the problem's <paramref name="tokens"/> query rows ending at <paramref name="lastPosition"/>
    /// (default: the last); O [batch, T, heads, headDim] and LSE [batch, T, heads] back on the host.
    /// </summary>
    internal static (float[] O, float[] Lse) Run(CudaBackend gpu, IDecodeKernel kernel, TestProblem problem, KvCacheShard cache, int tokens, int? lastPosition = null)
    {
        var options = problem.Options;
        int heads = options.Heads, d = options.HeadDim, width = options.QueryRowElements;
        int first = (lastPosition ?? problem.N - 1) - tokens + 1;
        var query = new float[options.Batch * tokens * width];
        for (int b = 0; b < options.Batch; b++)
        {
            problem.Q.AsSpan((b * problem.N + first) * width, tokens * width).CopyTo(query.AsSpan(b * tokens * width));
        }
        var positions = Enumerable.Range(first, tokens).ToArray();
        int rows = options.Batch * tokens * heads;
        using var target = gpu.Allocate((long)rows * (d + 1) * sizeof(float));
        // Garbage where the kernel must write: every value comes from the kernel.
        gpu.Fill(target, 0, (long)rows * (d + 1), float.NaN);
        kernel.Run(options, cache, query, positions, target, 0);
        gpu.Synchronize();
        var all = new float[rows * (d + 1)];
        gpu.Download(target, 0, MemoryMarshal.AsBytes(all.AsSpan()));
        return (all[..(rows * d)], all[(rows * d)..]);
    }

    private static BFloat16[] BFloat16s(float[] values) => values.Select(x => (BFloat16)x).ToArray();
}
