using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Ring;
using RingAttention.TestSupport;

namespace RingAttention.Nccl.Tests;

/// <summary>
/// The seam the GPU transports report through, exercised on the CPU: an exchange that marks its post and completion
/// on the device (<see cref="IPendingExchange.Posted"/>, <see cref="IPendingExchange.Completed"/>) gives each step's exchange time, the part hidden behind the
/// step's kernels and the exposed wait, all from device marks. A fake device clock makes the figures exact: every
/// kernel call takes one second, and an exchange takes the time its rank's transport is given.
/// </summary>
public sealed class ExchangeTimingTests
{
    [Fact]
    public void Exchange_hidden_and_exposed_times_come_from_the_device_marks()
    {
        var options = new AttentionOptions { Heads = 2, HeadDim = 16 };
        var layout = SequenceLayouts.Create(LayoutKind.Contiguous, 24, 2);
        // Rank 0's exchange is shorter than its step's compute (one kernel call, 1 s); rank 1's is longer.
        double[] exchangeSeconds = [0.25, 2.5];
        var backends = exchangeSeconds.Select(_ => new DeviceClockBackend()).ToArray();
        var endpoints = InProcessRing.Create(2);
        var timed = Run(options, layout, backends, endpoints.Select((endpoint, rank) => (IRingTransport)new DeviceTimedTransport(endpoint, backends[rank], exchangeSeconds[rank])).ToArray(),
            out var timedOutputs);

        var step0 = timed.Select(report => report.Steps[0]).ToArray();
        Assert.All(timed, report => Assert.All(report.Steps, step => Assert.Equal(1.0, step.ComputeSeconds)));
        Assert.Equal(((double?)0.25, (double?)0.25, 0.0), (step0[0].ExchangeSeconds, step0[0].HiddenSeconds, step0[0].WaitSeconds));
        Assert.Equal(((double?)2.5, (double?)1.0, 1.5), (step0[1].ExchangeSeconds, step0[1].HiddenSeconds, step0[1].WaitSeconds));
        // The last step posts no exchange.
        Assert.All(timed, report => Assert.Null(report.Steps[1].ExchangeSeconds));
        Assert.All(backends, backend => Assert.Equal(0, backend.LiveMarks));

        using var cpu = new CpuBackend(1);
        Run(options, layout, [cpu, cpu], InProcessRing.Create(2), out var plainOutputs);
        Assert.Equal(plainOutputs, timedOutputs);
    }

    private static RankReport[] Run(AttentionOptions options, ISequenceLayout layout, IAttentionBackend[] backends, IRingTransport[] transports, out byte[][] outputs)
    {
        var source = new CounterRandomSource(7, options, layout.SequenceLength);
        var ranks = transports.Select(transport =>
        {
            var backend = backends[transport.Rank];
            var tensors = RankTensors.Allocate(backend, options, layout.LocalLength(transport.Rank));
            ShardLoader.Load(source, options, layout, transport.Rank, backend, tensors);
            return new RingRank(options, layout, transport, backend, tensors);
        }).ToArray();
        var reports = RingDriver.Forward(ranks);
        outputs = ranks.SelectMany(rank => new[] { Read(backends[rank.Rank], rank.Tensors.O), Read(backends[rank.Rank], rank.Tensors.Lse) }).ToArray();
        foreach (var rank in ranks)
        {
            rank.Dispose();
            rank.Tensors.Dispose();
            transports[rank.Rank].Dispose();
        }
        return reports;
    }

    private static byte[] Read(IAttentionBackend backend, BackendBuffer buffer)
    {
        var bytes = new byte[buffer.Bytes];
        backend.Download(buffer, 0, bytes);
        return bytes;
    }

    /// <summary>The CPU backend with a fake device clock: marks read it, each kernel call advances it by one second.</summary>
    private sealed class DeviceClockBackend() : DelegatingBackend(new CpuBackend(1)), IBackendClock
    {
        public double Now { get; set; }

        public int LiveMarks { get; set; }

        public override string Name => "device-clock-cpu";

        public override string Description => "CPU with a fake device clock";

        public override void Forward(in FlashForwardParams args)
        {
            base.Forward(args);
            Now += 1;
        }

        public override IBackendClock Clock => this;

        public IClockMark Mark() => At(Now);

        public FakeMark At(double time)
        {
            LiveMarks++;
            return new FakeMark(this, time);
        }
    }

    private sealed class FakeMark(DeviceClockBackend owner, double time) : IClockMark
    {
        private bool _disposed;

        public double Time => time;

        public double SecondsSince(IClockMark earlier) => time - ((FakeMark)earlier).Time;

        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                owner.LiveMarks--;
            }
        }
    }

    /// <summary>
    /// Moves blocks with the in-process ring and times them like a GPU transport: posted at the device clock's
    /// current time, completed <c>seconds</c> later; a wait makes the device wait until then (as the compute stream
    /// waits for the exchange stream's event).
    /// </summary>
    private sealed class DeviceTimedTransport(IRingTransport inner, DeviceClockBackend device, double seconds) : IRingTransport
    {
        public string Name => "device-timed";

        public int Rank => inner.Rank;

        public int Size => inner.Size;

        public IPendingExchange PostExchange(ExchangeId id, RingMessage send, RingMessage receive)
        {
            var posted = device.At(device.Now);
            return new Exchange(inner.PostExchange(id, send, receive), device, posted, device.At(posted.Time + seconds));
        }

        public IPendingExchange PostAllReduce(nint buffer, long count, ReduceOperation operation) => inner.PostAllReduce(buffer, count, operation);

        public IPendingExchange PostGather(nint send, long bytes, nint receive) => inner.PostGather(send, bytes, receive);

        public IPendingExchange PostBarrier() => inner.PostBarrier();

        public void Dispose() => inner.Dispose();

        private sealed class Exchange(IPendingExchange inner, DeviceClockBackend device, FakeMark posted, FakeMark completed) : IPendingExchange
        {
            public IClockMark Posted => posted;

            public IClockMark Completed => completed;

            public void Wait()
            {
                inner.Wait();
                device.Now = Math.Max(device.Now, completed.Time);
            }
        }
    }
}
