using RingAttention.Cpu;
using RingAttention.Kernels;

namespace RingAttention.Cuda.Tests;

/// <summary>
/// NaN in one Q, K or V row propagates on the CUDA kernels exactly where the CPU backend puts it (the README's rule,
/// PyTorch's): a NaN query row makes that row's O and LSE NaN; a NaN key row makes O and LSE NaN for every row that
/// sees the key, while causal rows before it stay exact; a NaN value row makes O NaN for every row that sees it and
/// leaves LSE finite; rows hidden from a NaN value may be NaN too where the kernel multiplied its tile by zero
/// weights (the README allows it; the CPU kernel keeps them exact, the tensor-core kernels do not). Everything else
/// matches the CPU backend. Causal, one kernel call over 128 rows and keys, so
/// the NaN shares thread blocks and key tiles with rows that must stay finite. Runs on a GPU or the software GPU.
/// </summary>
public sealed class NonFinitePropagationTests
{
    private const int Rows = 128, HeadDim = 64, Heads = 2, NanQueryRow = 3, NanKeyRow = 40, NanValueRow = 90;

    public enum Poisoned
    {
        Query,
        Key,
        Value,
    }

    public static TheoryData<ElementType, Poisoned> Cases()
    {
        var data = new TheoryData<ElementType, Poisoned>();
        foreach (var type in new[] { ElementType.BFloat16, ElementType.Float32 })
        {
            foreach (var poisoned in Enum.GetValues<Poisoned>())
            {
                data.Add(type, poisoned);
            }
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void NanPropagatesWhereTheCpuBackendPutsIt(ElementType type, Poisoned poisoned)
    {
        Requirements.Gpu();
        using var gpu = CudaBackend.Create();
        using var cpu = new CpuBackend();
        var (gpuO, gpuLse) = Run(gpu, type, poisoned);
        var (cpuO, cpuLse) = Run(cpu, type, poisoned);

        double tolerance = type == ElementType.Float32 ? 1e-5 : 2e-2;
        for (int h = 0; h < Heads; h++)
        {
            for (int r = 0; r < Rows; r++)
            {
                bool rowSeesNan = poisoned switch
                {
                    Poisoned.Query => h == 0 && r == NanQueryRow,
                    Poisoned.Key => r >= NanKeyRow,
                    _ => r >= NanValueRow,
                };
                float lse = gpuLse[h * Rows + r], cpuLseValue = cpuLse[h * Rows + r];
                // The documented rule holds on the CPU backend, the oracle here.
                Assert.Equal(rowSeesNan && poisoned != Poisoned.Value, float.IsNaN(cpuLseValue));
                Assert.True(float.IsNaN(lse) == float.IsNaN(cpuLseValue) && (float.IsNaN(lse) || Math.Abs(lse - cpuLseValue) < 1e-4),
                    $"{poisoned} head {h} row {r}: LSE {lse}, CPU {cpuLseValue}");
                for (int c = 0; c < HeadDim; c++)
                {
                    int i = (r * Heads + h) * HeadDim + c;
                    if (rowSeesNan)
                    {
                        Assert.True(float.IsNaN(cpuO[i]), $"{poisoned} head {h} row {r} col {c}: CPU O {cpuO[i]}, expected NaN");
                        Assert.True(float.IsNaN(gpuO[i]), $"{poisoned} head {h} row {r} col {c}: O {gpuO[i]}, expected NaN (CPU {cpuO[i]})");
                    }
                    else if (poisoned == Poisoned.Value && float.IsNaN(gpuO[i]))
                    {
                        // The README's rule: a value NaN may also reach rows hidden from it by the mask whose thread
                        // block multiplied its key tile with weights of 0 (0·NaN = NaN, as in PyTorch's math
                        // backend). The GPU kernels do (whole row blocks per tile), the CPU kernel skips hidden keys.
                        continue;
                    }
                    else
                    {
                        Assert.True(float.IsFinite(gpuO[i]) && Math.Abs(gpuO[i] - cpuO[i]) <= tolerance,
                            $"{poisoned} head {h} row {r} col {c}: O {gpuO[i]}, CPU {cpuO[i]}");
                    }
                }
            }
        }
    }

    private static (float[] O, float[] Lse) Run(IAttentionBackend backend, ElementType type, Poisoned poisoned)
    {
        var options = new AttentionOptions { Batch = 1, Heads = Heads, KvHeads = 1, HeadDim = HeadDim, Causal = true, ElementType = type };
        var random = new Random(9);
        byte[] Tensor(int width, int nanRow)
        {
            var values = ForwardCalls.RandomValues(random, Rows * width);
            if (nanRow >= 0)
            {
                // Only head 0's part of a query row (a K/V row is one head wide here).
                values.AsSpan(nanRow * width, HeadDim).Fill(float.NaN);
            }
            return ForwardCalls.Stored(values, type);
        }
        byte[] q = Tensor(Heads * HeadDim, poisoned == Poisoned.Query ? NanQueryRow : -1);
        byte[] k = Tensor(HeadDim, poisoned == Poisoned.Key ? NanKeyRow : -1);
        byte[] v = Tensor(HeadDim, poisoned == Poisoned.Value ? NanValueRow : -1);
        return ForwardCalls.Run(backend, options, Rows, q, k, v, [new ForwardCalls.Call(0, Rows, 0)]);
    }
}
