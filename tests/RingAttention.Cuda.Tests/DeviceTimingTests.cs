using RingAttention.Cpu;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Ring;
using RingAttention.TestSupport;

namespace RingAttention.Cuda.Tests;

/// <summary>
/// The seams the CUDA backend plugs into, exercised on the CPU: a backend that times itself (IDeviceTimer) gets its
/// device times in the ring's reports, and a backend with its own emulation transport gets it instead of InProcessRing.
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
            Assert.All(report.Steps.Take(2), step => Assert.Equal(0.001, step.WaitSeconds, 9));
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
    private sealed class TimedCpuBackend() : DelegatingBackend(new CpuBackend()), IDeviceTimer, IEmulatedRingFactory
    {
        private int _clock;

        public int RingsCreated { get; private set; }

        public int LiveMarks { get; private set; }

        public override string Name => "timed-cpu";

        public override string Description => "CPU with a fake device clock";

        public IDeviceMark Mark()
        {
            LiveMarks++;
            return new FakeMark(this, ++_clock);
        }

        public IRingTransport[] CreateEmulatedRing(int size)
        {
            RingsCreated = size;
            return InProcessRing.Create(size);
        }

        private sealed class FakeMark(TimedCpuBackend owner, int tick) : IDeviceMark
        {
            private bool _disposed;

            public double SecondsSince(IDeviceMark earlier) => (tick - ((FakeMark)earlier).Tick) * 0.001;

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
}
