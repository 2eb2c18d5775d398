using RingAttention.Cpu;
using RingAttention.Decode;
using RingAttention.Layouts;

namespace RingAttention.Tests.Decode;

/// <summary>
/// A prompt of <c>prefill</c> tokens followed by <c>steps</c> decode steps of T tokens each, drawn as one sequence
/// with its float64 causal oracle (TestProblem), so every step's output has reference rows to meet.
/// </summary>
internal sealed class DecodeProblem
{
    public DecodeProblem(AttentionOptions options, int prefill, int steps, int tokensPerStep, ulong seed = 11)
    {
        (Prefill, Steps, TokensPerStep) = (prefill, steps, tokensPerStep);
        Whole = new TestProblem(options, prefill + steps * tokensPerStep, seed);
    }

    public int Prefill { get; }
    public int Steps { get; }
    public int TokensPerStep { get; }
    public TestProblem Whole { get; }
    public AttentionOptions Options => Whole.Options;

    /// <summary>Rows [start, start + count) of a full [batch, N, width] tensor, as [batch, count, width].</summary>
    public float[] Rows(float[] full, int width, int start, int count)
    {
        int batch = Options.Batch, n = Whole.N;
        var rows = new float[batch * count * width];
        for (int b = 0; b < batch; b++)
        {
            full.AsSpan((b * n + start) * width, count * width).CopyTo(rows.AsSpan(b * count * width));
        }
        return rows;
    }

    /// <summary>The oracle's O rows [batch, count, heads, headDim] and LSE [batch, heads, count] for positions [start, start + count).</summary>
    public (double[] O, double[] Lse) ReferenceRows(int start, int count)
    {
        int batch = Options.Batch, heads = Options.Heads, n = Whole.N, width = Options.QueryRowElements;
        var (o, lse) = Whole.Reference;
        var rowsO = new double[batch * count * width];
        var rowsLse = new double[batch * heads * count];
        for (int b = 0; b < batch; b++)
        {
            o.AsSpan((b * n + start) * width, count * width).CopyTo(rowsO.AsSpan(b * count * width));
            for (int h = 0; h < heads; h++)
            {
                lse.AsSpan((b * heads + h) * n + start, count).CopyTo(rowsLse.AsSpan((b * heads + h) * count));
            }
        }
        return (rowsO, rowsLse);
    }

    /// <summary>Prefills in emulation and runs every step; returns each step's (O, LSE), the prefill's checked on the way.</summary>
    public List<(float[] O, float[] Lse)> RunEmulated(LayoutKind layout, int ranks, DecodeCacheOptions cacheOptions, EmulatedDecode? decode = null)
    {
        using var owned = decode is null ? new EmulatedDecode(Options, ranks, cacheOptions) : null;
        decode ??= owned!;
        using var backend = new CpuBackend(2);
        int qw = Options.QueryRowElements, kw = Options.KeyRowElements, batch = Options.Batch, heads = Options.Heads;
        var prefillO = new float[batch * Prefill * qw];
        var prefillLse = new float[batch * heads * Prefill];
        decode.Prefill<float>(SequenceLayouts.Create(layout, Prefill, ranks), backend,
            Rows(Whole.Q, qw, 0, Prefill), Rows(Whole.K, kw, 0, Prefill), Rows(Whole.V, kw, 0, Prefill), prefillO, prefillLse);
        var (referenceO, referenceLse) = ReferenceRows(0, Prefill);
        Assert.InRange(TestProblem.MaxAbs(prefillO, referenceO), 0, Whole.Tolerance.O);
        Assert.InRange(TestProblem.MaxAbs(prefillLse, referenceLse), 0, Whole.Tolerance.Lse);
        var results = new List<(float[] O, float[] Lse)>();
        for (int step = 0; step < Steps; step++)
        {
            int start = Prefill + step * TokensPerStep;
            var o = new float[batch * TokensPerStep * qw];
            var lse = new float[batch * heads * TokensPerStep];
            decode.Step<float>(Rows(Whole.Q, qw, start, TokensPerStep), Rows(Whole.K, kw, start, TokensPerStep), Rows(Whole.V, kw, start, TokensPerStep), o, lse);
            results.Add((o, lse));
        }
        return results;
    }

    /// <summary>Asserts each step's output against the oracle's rows of its positions.</summary>
    public void AssertMatchesReference(List<(float[] O, float[] Lse)> steps)
    {
        var tolerance = Whole.Tolerance;
        for (int step = 0; step < steps.Count; step++)
        {
            var (o, lse) = ReferenceRows(Prefill + step * TokensPerStep, TokensPerStep);
            double errorO = TestProblem.MaxAbs(steps[step].O, o), errorLse = TestProblem.MaxAbs(steps[step].Lse, lse);
            Assert.True(errorO <= tolerance.O, $"step {step}: O error {errorO:E3} above {tolerance.O:E3}");
            Assert.True(errorLse <= tolerance.Lse, $"step {step}: LSE error {errorLse:E3} above {tolerance.Lse:E3}");
        }
    }
}
