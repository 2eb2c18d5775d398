namespace RingAttention.Planning;

/// <summary>The emulated ring's link, measured: the in-process ring moves K/V with one memory copy per block.</summary>
public static class MemoryCopyLink
{
    /// <summary>Copy bandwidth of <paramref name="bytes"/>-byte copies on this machine, best of <paramref name="repeats"/>.</summary>
    public static unsafe double MeasureBytesPerSecond(long bytes = 16 << 20, int repeats = 5)
    {
        Guard.AtLeast(bytes, 1);
        var source = new byte[bytes];
        var target = new byte[bytes];
        Array.Fill(source, (byte)1);
        Array.Fill(target, (byte)2);
        double best = double.MaxValue;
        fixed (byte* from = source, to = target)
        {
            for (int i = 0; i < repeats; i++)
            {
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                Buffer.MemoryCopy(from, to, bytes, bytes);
                best = Math.Min(best, System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
        }
        return bytes / best;
    }

    /// <summary>A link spec for a measured copy bandwidth (no latency: a copy is posted and done in the same process).</summary>
    public static LinkSpec Spec(double bytesPerSecond) =>
        new("copy", "in-process copy (emulation)", bytesPerSecond, 0, Provenance.Measured, "measured: Buffer.MemoryCopy on this machine");
}
