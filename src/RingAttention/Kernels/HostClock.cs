using System.Diagnostics;

namespace RingAttention.Kernels;

/// <summary>The clock of host-memory backends and transports: <see cref="Stopwatch"/> readings taken when marked.</summary>
public sealed class HostClock : IBackendClock
{
    private HostClock()
    {
    }

    /// <summary>The one host clock.</summary>
    public static HostClock Instance { get; } = new();

    /// <inheritdoc />
    public IClockMark Mark() => new HostMark(Stopwatch.GetTimestamp());

    /// <summary>A mark at <see cref="Stopwatch"/> timestamp <paramref name="timestamp"/> (one observed earlier, e.g. by a progress thread).</summary>
    public static IClockMark At(long timestamp) => new HostMark(timestamp);

    private sealed class HostMark(long timestamp) : IClockMark
    {
        public long Timestamp => timestamp;

        public double SecondsSince(IClockMark earlier) => earlier is HostMark host
            ? Stopwatch.GetElapsedTime(host.Timestamp, timestamp).TotalSeconds
            : throw new ArgumentException($"earlier: expected a mark of the host clock, actual {earlier.GetType().Name}", nameof(earlier));

        public void Dispose()
        {
        }
    }
}
