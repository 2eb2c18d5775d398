using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Ring;
using RingAttention.TestSupport;

namespace RingAttention.Tests;

/// <summary>
/// A rank session owns its workspace: the first pass allocates it, later passes of the same size allocate no backend
/// memory (a counting backend sees every allocation), a larger problem grows it, and the outputs stay bitwise equal.
/// </summary>
public sealed class RankSessionTests
{
    [Theory]
    [InlineData(ElementType.Float32)]
    [InlineData(ElementType.BFloat16)]
    public void ASecondForwardOnTheSameSessionsAllocatesNothing(ElementType type)
    {
        var options = new AttentionOptions { Batch = 2, Heads = 4, KvHeads = 2, HeadDim = 16, Causal = true, ElementType = type };
        var layout = SequenceLayouts.Create(LayoutKind.Zigzag, 90, 3);
        using var backend = new CountingBackend(posesAsDevice: false);
        var endpoints = InProcessRing.Create(3);
        var tensors = Load(backend, options, layout);
        var sessions = endpoints.Select(endpoint => new RankSession(endpoint, backend)).ToArray();
        try
        {
            backend.Allocations = 0;
            RingDriver.Run(sessions.Select((s, rank) => s.BeginForward(options, layout, tensors[rank])).ToArray());
            Assert.True(backend.Allocations > 0, "the first pass allocates the workspace");
            var first = Outputs(backend, tensors);

            backend.Allocations = 0;
            RingDriver.Run(sessions.Select((s, rank) => s.BeginForward(options, layout, tensors[rank])).ToArray());
            Assert.Equal(0, backend.Allocations);
            Assert.Equal(first, Outputs(backend, tensors));
        }
        finally
        {
            Array.ForEach(sessions, s => s.Dispose());
            Array.ForEach(tensors, t => t.Dispose());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheSpanApiOnOneSessionAllocatesOnlyOnTheFirstCall(bool posesAsDevice)
    {
        // Posing as device memory, the span API stages its inputs into session-owned tensors (uploads, downloads).
        var options = new AttentionOptions { Heads = 2, HeadDim = 8 };
        var layout = SequenceLayouts.Create(LayoutKind.Contiguous, 33, 1);
        using var backend = new CountingBackend(posesAsDevice);
        using var session = new RankSession(InProcessRing.Create(1)[0], backend);
        var q = Enumerable.Range(0, 33 * options.QueryRowElements).Select(i => MathF.Sin(i)).ToArray();
        var kv = Enumerable.Range(0, 33 * options.KeyRowElements).Select(i => MathF.Cos(i)).ToArray();
        var o = new float[q.Length];
        var lse = new float[options.Heads * 33];

        RingForward.Run<float>(session, options, layout, q, kv, kv, o, lse);
        Assert.True(backend.Allocations > 0);
        var (firstO, firstLse) = ((float[])o.Clone(), (float[])lse.Clone());
        backend.Allocations = 0;
        Array.Clear(o);
        RingForward.Run<float>(session, options, layout, q, kv, kv, o, lse);
        Assert.Equal(0, backend.Allocations);
        Assert.Equal(firstO, o);
        Assert.Equal(firstLse, lse);
    }

    [Fact]
    public void TheWorkspaceGrowsForALargerProblemAndIsReusedForASmallerOne()
    {
        var options = new AttentionOptions { Heads = 2, HeadDim = 8, ElementType = ElementType.BFloat16 };
        using var backend = new CountingBackend(posesAsDevice: false);
        var endpoints = InProcessRing.Create(2);
        var sessions = endpoints.Select(endpoint => new RankSession(endpoint, backend)).ToArray();
        try
        {
            int Pass(int n)
            {
                var layout = SequenceLayouts.Create(LayoutKind.Striped, n, 2);
                var tensors = Load(backend, options, layout);
                backend.Allocations = 0;
                RingDriver.Run(sessions.Select((s, rank) => s.BeginForward(options, layout, tensors[rank])).ToArray());
                Array.ForEach(tensors, t => t.Dispose());
                return backend.Allocations;
            }

            Assert.True(Pass(20) > 0);
            long small = sessions[0].WorkspaceBytes;
            Assert.True(Pass(64) > 0, "a larger problem grows the workspace");
            Assert.True(sessions[0].WorkspaceBytes > small);
            Assert.Equal(0, Pass(20));
            Assert.Equal(0, Pass(64));
        }
        finally
        {
            Array.ForEach(sessions, s => s.Dispose());
        }
    }

    private static RankTensors[] Load(IAttentionBackend backend, AttentionOptions options, ISequenceLayout layout)
    {
        var source = new CounterRandomSource(3, options, layout.SequenceLength);
        return Enumerable.Range(0, layout.Ranks).Select(rank =>
        {
            var tensors = RankTensors.Allocate(backend, options, layout.LocalLength(rank));
            ShardLoader.Load(source, options, layout, rank, backend, tensors);
            return tensors;
        }).ToArray();
    }

    private static byte[][] Outputs(IAttentionBackend backend, RankTensors[] tensors) =>
        tensors.SelectMany(t => new[] { t.O, t.Lse }).Select(buffer =>
        {
            var bytes = new byte[buffer.Bytes];
            backend.Download(buffer, 0, bytes);
            return bytes;
        }).ToArray();

    /// <summary>The CPU backend counting its allocations; optionally posing as device memory (so nothing is used in place).</summary>
    private sealed class CountingBackend(bool posesAsDevice) : DelegatingBackend(new CpuBackend(1))
    {
        public int Allocations { get; set; }

        public override string Name => "counting-cpu";

        public override bool IsHostMemory => !posesAsDevice;

        public override BackendBuffer Allocate(long bytes)
        {
            Allocations++;
            return base.Allocate(bytes);
        }
    }
}
