using RingAttention.Cpu;
using RingAttention.Layouts;
using RingAttention.Reference;

namespace RingAttention.Tests;

/// <summary>
/// NaN and ±inf in the inputs propagate as in PyTorch's scaled_dot_product_attention (whose math backend is the float64
/// naive reference here): NaN in query row i makes O row i and LSE row i NaN; NaN in a key row makes every row that
/// attends to that key NaN (rows the causal mask hides it from stay exact); NaN in a value row makes O NaN for every
/// row that attends to it while LSE stays finite (rows the mask hides it from may be NaN too where they share its
/// 64-key tile, since 0·NaN = NaN, as every row is in PyTorch's math backend); +inf in a query gives +inf − +inf in
/// the softmax, so NaN too.
/// </summary>
public sealed class NonFiniteInputTests
{
    private const int N = 150, Heads = 2, HeadDim = 16;

    public static TheoryData<string, LayoutKind, int> Cases()
    {
        var data = new TheoryData<string, LayoutKind, int>();
        foreach (var tensor in new[] { "q", "k", "v", "q+inf", "k-inf" })
        {
            data.Add(tensor, LayoutKind.Zigzag, 3);
            data.Add(tensor, LayoutKind.Contiguous, 1);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void NonFiniteInputsPropagateAsInPyTorch(string poisoned, LayoutKind layout, int ranks)
    {
        var options = new AttentionOptions { Heads = Heads, KvHeads = 1, HeadDim = HeadDim, Causal = true };
        var problem = new TestProblem(options, N);
        const int row = 70;   // a middle row: rows before it cannot see it as a key, rows after it can
        float value = poisoned.EndsWith("+inf", StringComparison.Ordinal) ? float.PositiveInfinity
            : poisoned.EndsWith("-inf", StringComparison.Ordinal) ? float.NegativeInfinity : float.NaN;
        var target = poisoned[0] switch { 'q' => problem.Q, 'k' => problem.K, _ => problem.V };
        int rowElements = poisoned[0] == 'q' ? Heads * HeadDim : HeadDim;
        target[row * rowElements + 3] = value;

        var (o, lse) = problem.RunRing(layout, ranks);
        var (refO, refLse) = NaiveAttention.Forward<double>(options, N, problem.Q, problem.K, problem.V);

        int nanRows = 0;
        for (int i = 0; i < N; i++)
        {
            for (int head = 0; head < Heads; head++)
            {
                var outRow = o.AsSpan((i * Heads + head) * HeadDim, HeadDim);
                var refRow = refO.AsSpan((i * Heads + head) * HeadDim, HeadDim);
                float rowLse = lse[head * N + i];
                double refRowLse = refLse[head * N + i];
                nanRows += refRow.ToArray().Any(double.IsNaN) ? 1 : 0;
                Assert.True(double.IsNaN(refRowLse) == float.IsNaN(rowLse), $"{poisoned}: LSE[{head}, {i}] = {rowLse}, reference {refRowLse}");
                if (!double.IsNaN(refRowLse))
                {
                    Assert.True(Math.Abs(rowLse - refRowLse) < 1e-4, $"{poisoned}: LSE[{head}, {i}] = {rowLse}, reference {refRowLse}");
                }
                for (int c = 0; c < HeadDim; c++)
                {
                    if (double.IsNaN(refRow[c]))
                    {
                        Assert.True(float.IsNaN(outRow[c]), $"{poisoned}: O[{i}, {head}, {c}] should be NaN, is {outRow[c]}");
                    }
                    else if (poisoned == "v" && float.IsNaN(outRow[c]))
                    {
                        // A row hidden from the NaN value, in the NaN key's tile: 0·NaN in P·V.
                        Assert.True(i < row && i >= row / 64 * 64 - 64, $"v: O[{i}, {head}, {c}] is NaN though far from the NaN value row");
                    }
                    else
                    {
                        Assert.True(Math.Abs(outRow[c] - refRow[c]) < 1e-5, $"{poisoned}: O[{i}, {head}, {c}] = {outRow[c]}, reference {refRow[c]}");
                    }
                }
            }
        }
        // The reference itself must see the poison: Q poisons its own row's heads, K/V every later row of both heads.
        Assert.True(nanRows >= (poisoned[0] == 'q' ? 1 : 2 * (N - row) - 2) || poisoned == "k-inf", $"{poisoned}: {nanRows} NaN rows in the reference");
    }
}
