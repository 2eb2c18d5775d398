using System.Diagnostics;
using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Kernels;

namespace RingAttention.Bench;

/// <summary>
/// One backward block-kernel call over a whole sequence (a single rank's view: all N queries against all N keys), with
/// unit-variance random Q, K, V and dO in the storage type, and the O and LSE the forward kernel computed from them
/// (so the probabilities the backward recomputes are the real ones). <see cref="Time"/> zeroes the dK/dV accumulators,
/// then times the preprocess (D = rowsum(dO ∘ O), dQ accumulator zeroed) and the kernel call together; the convert step
/// to the storage type is not part of the figure, as the forward's finalize is not part of the forward's.
/// </summary>
internal sealed unsafe class BackwardProblem : IDisposable
{
    private readonly HostBuffer _q, _k, _v, _o, _dO, _lse, _dSum, _dQAccum, _dKAccum, _dVAccum;
    private readonly FlashBackwardParams _params;

    public BackwardProblem(AttentionOptions options, int n, CpuBackend forward, ulong seed = 1)
    {
        options.Validate();
        Options = options;
        N = n;
        long queryElements = (long)options.Batch * n * options.QueryRowElements;
        long keyElements = (long)options.Batch * n * options.KeyRowElements;
        long rows = (long)options.Batch * options.Heads * n;
        _q = KernelProblem.RandomBuffer(queryElements, options.ElementType, seed);
        _k = KernelProblem.RandomBuffer(keyElements, options.ElementType, seed + 1);
        _v = KernelProblem.RandomBuffer(keyElements, options.ElementType, seed + 2);
        _dO = KernelProblem.RandomBuffer(queryElements, options.ElementType, seed + 3);
        _o = HostBuffer.Allocate(queryElements * ElementTypes.SizeOf(options.ElementType));
        _lse = HostBuffer.Allocate(rows * sizeof(float));
        _dSum = HostBuffer.Allocate(rows * sizeof(float));
        _dQAccum = HostBuffer.Allocate(queryElements * sizeof(float));
        _dKAccum = HostBuffer.Allocate(keyElements * sizeof(float));
        _dVAccum = HostBuffer.Allocate(keyElements * sizeof(float));
        RunForward(forward, rows);
        _params = FlashBackwardParams.ForContiguousTensors(options, n, n, _q.Address, _k.Address, _v.Address, _o.Address, _dO.Address,
            _lse.Address, _dSum.Address, _dQAccum.Address, _dKAccum.Address, _dVAccum.Address);
    }

    public AttentionOptions Options { get; }

    public int N { get; }

    /// <summary>FLOPs of the backward: 2.5 × the forward's, 10·B·N²·H·D, halved when causal (FlashAttention-2's count).</summary>
    public double Flops => 2.5 * Options.ForwardFlops(N);

    /// <summary>
    /// Zeroes the dK and dV accumulators, then times the preprocess and one backward call on <paramref name="kernel"/>:
    /// wall seconds and the process's CPU seconds over them.
    /// </summary>
    public (double Seconds, double CpuSeconds) Time(CpuFlashBackwardKernel kernel)
    {
        _dKAccum.AsSpan<float>().Clear();
        _dVAccum.AsSpan<float>().Clear();
        var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();
        kernel.Preprocess(_params);
        kernel.Backward(_params);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return (seconds, (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds);
    }

    /// <summary>O and LSE from the forward kernel and its finalize step, in the buffers the backward reads.</summary>
    private void RunForward(CpuBackend backend, long rows)
    {
        using var oAccum = HostBuffer.Allocate(_dQAccum.Bytes);
        using var rowMax = HostBuffer.Allocate(rows * sizeof(float));
        using var rowSum = HostBuffer.Allocate(rows * sizeof(float));
        backend.Fill(oAccum, 0, oAccum.Bytes / sizeof(float), 0f);
        backend.Fill(rowMax, 0, rows, float.NegativeInfinity);
        backend.Fill(rowSum, 0, rows, 0f);
        backend.Forward(FlashForwardParams.ForContiguousTensors(Options, N, N, _q.Address, _k.Address, _v.Address, oAccum.Address,
            rowMax.Address, rowSum.Address));
        backend.FinishRows(new FlashFinalizeParams
        {
            OAccum = oAccum.Address, RowMax = rowMax.Address, RowSum = rowSum.Address, O = _o.Address, Lse = _lse.Address,
            Batch = Options.Batch, Heads = Options.Heads, HeadDim = Options.HeadDim, SeqLenQ = N, ElementType = (int)Options.ElementType,
        });
    }

    public void Dispose()
    {
        foreach (var buffer in new[] { _q, _k, _v, _o, _dO, _lse, _dSum, _dQAccum, _dKAccum, _dVAccum })
        {
            buffer.Dispose();
        }
    }
}
