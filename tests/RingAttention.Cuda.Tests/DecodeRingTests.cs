using RingAttention.Decode;
using RingAttention.Layouts;
using RingAttention.Tests;
using Xunit.Abstractions;

namespace RingAttention.Cuda.Tests;

/// <summary>
/// Decode on the CUDA backend end to end in emulation: P virtual ranks on one GPU (or the software GPU), the prefill
/// around the ring on the GPU, then steps whose local kernel runs on the device and whose merge is the copy ring's
/// all-reduce over device memory; every step against the float64 reference over the whole sequence.
/// </summary>
public sealed class DecodeRingTests(ITestOutputHelper output)
{
    public static TheoryData<ElementType, LayoutKind, int, int, int, int> Cases() => new()
    {
        // storage type, prefill layout, ranks P, prompt, tokens per step T, head dim
        { ElementType.Float32, LayoutKind.Zigzag, 3, 42, 4, 64 },
        { ElementType.BFloat16, LayoutKind.Striped, 2, 30, 1, 128 },
        // P = 8 with a 5-token contiguous prompt: five ranks hold nothing until the appends (block 2) reach them.
        { ElementType.Float16, LayoutKind.Contiguous, 8, 5, 4, 40 },
    };

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void StepsMatchTheFloat64ReferenceOverTheWholeCache(ElementType type, LayoutKind layout, int ranks, int prompt, int tokens, int headDim)
    {
        Requirements.Gpu();
        using var gpu = CudaBackend.Create();
        const int steps = 3;
        var options = new AttentionOptions { Batch = 2, Heads = 4, KvHeads = 2, HeadDim = headDim, Causal = true, ElementType = type };
        var problem = new TestProblem(options, prompt + steps * tokens);
        using var decode = new EmulatedDecode(options, ranks, new DecodeCacheOptions { BlockSize = 2, Headroom = 1 }, gpu);
        var results = type switch
        {
            ElementType.Float16 => Run<Half>(decode, gpu, problem, layout, ranks, prompt, tokens, steps, x => (Half)x, x => (float)x),
            ElementType.BFloat16 => Run<BFloat16>(decode, gpu, problem, layout, ranks, prompt, tokens, steps, x => (BFloat16)x, x => (float)x),
            _ => Run<float>(decode, gpu, problem, layout, ranks, prompt, tokens, steps, x => x, x => x),
        };

        var tolerance = problem.StorageTolerance;
        var (referenceO, referenceLse) = problem.Reference;
        int n = problem.N, heads = options.Heads, width = options.QueryRowElements;
        for (int step = 0; step < steps; step++)
        {
            var (o, lse) = results[step];
            double errorO = 0, errorLse = 0;
            for (int b = 0; b < options.Batch; b++)
            {
                for (int t = 0; t < tokens; t++)
                {
                    int position = prompt + step * tokens + t;
                    for (int i = 0; i < width; i++)
                    {
                        errorO = Math.Max(errorO, Error(o[(b * tokens + t) * width + i], referenceO[(b * n + position) * width + i]));
                    }
                    for (int h = 0; h < heads; h++)
                    {
                        errorLse = Math.Max(errorLse, Error(lse[(b * heads + h) * tokens + t], referenceLse[(b * heads + h) * n + position]));
                    }
                }
            }
            output.WriteLine($"{type} {layout} P={ranks} T={tokens} d={headDim} step {step}: O error {errorO:E2} (allowed {tolerance.O:E2}), LSE error {errorLse:E2} (allowed {tolerance.Lse:E2})");
            Assert.True(errorO <= tolerance.O, $"step {step}: O error {errorO:E3} above {tolerance.O:E3}");
            Assert.True(errorLse <= tolerance.Lse, $"step {step}: LSE error {errorLse:E3} above {tolerance.Lse:E3}");
        }
    }

    private static double Error(float actual, double expected) => float.IsNaN(actual) ? double.PositiveInfinity : Math.Abs(actual - expected);

    /// <summary>Prefills the prompt on the GPU ring, then runs the steps; each step's O (widened) and LSE [batch, heads, T].</summary>
    private static List<(float[] O, float[] Lse)> Run<T>(EmulatedDecode decode, CudaBackend gpu, TestProblem problem, LayoutKind layout, int ranks,
        int prompt, int tokens, int steps, Func<float, T> narrow, Func<T, float> widen) where T : unmanaged
    {
        var options = problem.Options;
        int qw = options.QueryRowElements, kw = options.KeyRowElements, batch = options.Batch, heads = options.Heads;
        T[] Rows(float[] full, int width, int start, int count)
        {
            var rows = new T[batch * count * width];
            for (int b = 0; b < batch; b++)
            {
                for (int i = 0; i < count * width; i++)
                {
                    rows[b * count * width + i] = narrow(full[(b * problem.N + start) * width + i]);
                }
            }
            return rows;
        }
        decode.Prefill<T>(SequenceLayouts.Create(layout, prompt, ranks), gpu, Rows(problem.Q, qw, 0, prompt), Rows(problem.K, kw, 0, prompt), Rows(problem.V, kw, 0, prompt),
            new T[batch * prompt * qw], new float[batch * heads * prompt]);
        if (ranks > prompt)
        {
            Assert.Contains(decode.Sessions, session => session.Cache.Length == 0);
        }
        var results = new List<(float[] O, float[] Lse)>();
        for (int step = 0; step < steps; step++)
        {
            int start = prompt + step * tokens;
            var o = new T[batch * tokens * qw];
            var lse = new float[batch * heads * tokens];
            decode.Step<T>(Rows(problem.Q, qw, start, tokens), Rows(problem.K, kw, start, tokens), Rows(problem.V, kw, start, tokens), o, lse);
            results.Add((o.Select(widen).ToArray(), lse));
        }
        return results;
    }
}
