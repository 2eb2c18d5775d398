using RingAttention.Cpu;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Ring;
using RingAttention.TestSupport;

namespace RingAttention.Cuda.Tests;

/// <summary>
/// The seams the CUDA backend plugs into, exercised on the CPU: the ring times every step with the backend's own
/// clock (IBackendClock) and the transport's marks, and emulation uses the transport the backend creates.
/// </summary>
public sealed class DeviceTimingTests
{
    [Fact]
    public void RingReportsUseTheBackendsOwnMarks()
    {
        using var backend = new TimedCpuBackend();
        var options = new AttentionOptions { Heads = 2, HeadDim = 16, Causal = true };
        const int n = 40;
        var q = new float[n * options.QueryRowElements];
        var k = new float[n * options.KeyRowElements];
        var v = new float[n * options.KeyRowElements];
        for (int i = 0; i < q.Length; i++)
        {
            q[i] = MathF.Sin(i);
            k[i] = MathF.Cos(i);
            v[i] = MathF.Sin(0.5f * i);
        }
        var o = new float[q.Length];
        var lse = new float[options.Heads * n];
        var reports = EmulatedRing.Attention<float>(options, SequenceLayouts.Create(LayoutKind.Zigzag, n, 3), backend, q, k, v, o, lse);

        Assert.Equal(3, backend.RingsCreated);
        foreach (var report in reports)
        {
            // Each mark is 1 ms after the previous one: a span between consecutive marks is exactly 1 ms.
            Assert.All(report.Steps, step => Assert.Equal(0.001, step.ComputeSeconds, 9));
            // The exposed wait is the post (1 ms between its marks) plus the wait (1 ms).
            Assert.All(report.Steps.Take(2), step => Assert.Equal(0.002, step.WaitSeconds, 9));
            Assert.All(report.Steps.Take(2), step => Assert.NotNull(step.ExchangeSeconds));
            Assert.Equal(0.001, report.FinalizeSeconds, 9);
        }
        Assert.Equal(0, backend.LiveMarks);

        var expectedO = new float[q.Length];
        var expectedLse = new float[lse.Length];
        using var plain = new CpuBackend();
        EmulatedRing.Attention<float>(options, SequenceLayouts.Create(LayoutKind.Zigzag, n, 3), plain, q, k, v, expectedO, expectedLse);
        Assert.Equal(expectedO, o);
        Assert.Equal(expectedLse, lse);
    }

    /// <summary>The CPU backend with a fake device clock (1 ms per mark) and its own emulation transport factory.</summary>
    private sealed class TimedCpuBackend() : DelegatingBackend(new CpuBackend()), IBackendClock
    {
        private int _clock;

        public int RingsCreated { get; private set; }

        public int LiveMarks { get; private set; }

        public override string Name => "timed-cpu";

        public override string Description => "CPU with a fake device clock";

        public override IBackendClock Clock => this;

        public IClockMark Mark()
        {
            LiveMarks++;
            return new FakeMark(this, ++_clock);
        }

        /// <summary>A mark at the clock's current tick, which does not advance it (a transport's own mark).</summary>
        public IClockMark Now()
        {
            LiveMarks++;
            return new FakeMark(this, _clock);
        }

        public override IRingTransport[] CreateEmulatedRing(int size)
        {
            RingsCreated = size;
            return InProcessRing.Create(size).Select(endpoint => (IRingTransport)new MarkedTransport(endpoint, this)).ToArray();
        }

        private sealed class FakeMark(TimedCpuBackend owner, int tick) : IClockMark
        {
            private bool _disposed;

            public double SecondsSince(IClockMark earlier) => (tick - ((FakeMark)earlier).Tick) * 0.001;

            public int Tick => tick;

            public void Dispose()
            {
                if (!_disposed)
                {
                    _disposed = true;
                    owner.LiveMarks--;
                }
            }
        }
    }

    /// <summary>The in-process ring with marks of the fake clock: posted at the post, completed when the wait returns.</summary>
    private sealed class MarkedTransport(IRingTransport inner, TimedCpuBackend clock) : IRingTransport
    {
        public string Name => inner.Name;

        public int Rank => inner.Rank;

        public int Size => inner.Size;

        public IPendingExchange PostExchange(ExchangeId id, RingMessage send, RingMessage receive) =>
            new Marked(inner.PostExchange(id, send, receive), clock, clock.Now());

        public IPendingExchange PostAllReduce(nint buffer, long count, ReduceOperation operation) => inner.PostAllReduce(buffer, count, operation);

        public IPendingExchange PostGather(nint send, long bytes, nint receive) => inner.PostGather(send, bytes, receive);

        public IPendingExchange PostBarrier() => inner.PostBarrier();

        public void Dispose() => inner.Dispose();

        private sealed class Marked(IPendingExchange inner, TimedCpuBackend clock, IClockMark posted) : IPendingExchange
        {
            private IClockMark? _completed;

            public IClockMark Posted => posted;

            public IClockMark Completed => _completed!;

            public void Wait()
            {
                inner.Wait();
                _completed = clock.Now();
            }
        }
    }
}
