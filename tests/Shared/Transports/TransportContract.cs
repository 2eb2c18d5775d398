using System.Runtime.InteropServices;
using RingAttention.Ring;

namespace RingAttention.TestSupport;

/// <summary>
/// Checks of the transport contract, written once and run on every transport that runs here: the endpoints this
/// process hosts (all P of an emulated ring, or the one rank of an MPI process) are driven from one thread, posting
/// every endpoint's operations before waiting for any, as the ring's driver does. Buffers are native host memory.
/// Each check throws <see cref="InvalidOperationException"/> naming what differed.
/// </summary>
internal static unsafe class TransportContract
{
    /// <summary>Element sizes and counts of the three regions of each exchange: bf16 K-like, fp32 dK-like, a large odd-sized byte run.</summary>
    private static readonly (int ElementSize, int Count)[][] Shapes =
    [
        [(2, 777), (4, 1000), (1, 200_003)],
        [(4, 5), (2, 4096), (1, 1)],
    ];

    /// <summary>
    /// Two steps of two exchanges in flight at once (channel 0 and channel 1), each a message of three regions of
    /// different sizes and element types; waited in the reverse order of posting. Every region must arrive whole
    /// from the previous rank.
    /// </summary>
    public static void MixedRegionsWithTwoExchangesInFlight(IReadOnlyList<IRingTransport> endpoints)
    {
        int size = endpoints[0].Size;
        var allocations = new List<nint>();
        try
        {
            for (int step = 0; step < 2; step++)
            {
                var posted = new List<(IRingTransport Endpoint, int Channel, RingMessage Receive, IPendingExchange Pending)>();
                foreach (var endpoint in endpoints)
                {
                    for (int channel = 0; channel < 2; channel++)
                    {
                        var send = Message(Shapes[channel], allocations, (region, i) => Pattern(endpoint.Rank, step, channel, region, i));
                        var receive = Message(Shapes[channel], allocations, (_, _) => 0xEE);
                        posted.Add((endpoint, channel, receive, endpoint.PostExchange(new ExchangeId(channel, step), send, receive)));
                    }
                }
                foreach (var (endpoint, channel, receive, pending) in Enumerable.Reverse(posted))
                {
                    pending.Wait();
                    int previous = RingNeighbours.Previous(endpoint.Rank, size);
                    for (int region = 0; region < receive.Count; region++)
                    {
                        var bytes = new ReadOnlySpan<byte>((void*)receive[region].Address, (int)receive[region].Bytes);
                        for (int i = 0; i < bytes.Length; i++)
                        {
                            if (bytes[i] != Pattern(previous, step, channel, region, i))
                            {
                                throw new InvalidOperationException(
                                    $"rank {endpoint.Rank}, channel {channel}, step {step}, region {region}: byte {i} is {bytes[i]}, expected {Pattern(previous, step, channel, region, i)} from rank {previous}");
                            }
                        }
                    }
                }
            }
        }
        finally
        {
            allocations.ForEach(address => NativeMemory.Free((void*)address));
        }
    }

    /// <summary>All-reduce sum and max of 1000 fp32 values, a gather to rank 0 and a barrier, across every rank.</summary>
    public static void Collectives(IReadOnlyList<IRingTransport> endpoints)
    {
        int size = endpoints[0].Size;
        const int count = 1000, gatherBytes = 12;
        var allocations = new List<nint>();
        try
        {
            var sums = endpoints.Select(e => Floats(allocations, count, i => e.Rank * 1000 + i * 0.5f)).ToArray();
            var maxima = endpoints.Select(e => Floats(allocations, count, i => (e.Rank * 7 + i) % (size + 3) - i * 0.25f)).ToArray();
            var gatherSends = endpoints.Select(e => Bytes(allocations, gatherBytes, i => (byte)(e.Rank * 16 + i))).ToArray();
            var gathered = endpoints.Select(e => Bytes(allocations, size * gatherBytes, _ => 0xEE)).ToArray();
            var pending = new List<IPendingExchange>();
            for (int e = 0; e < endpoints.Count; e++)
            {
                pending.Add(endpoints[e].PostAllReduce(sums[e], count, ReduceOperation.Sum));
                pending.Add(endpoints[e].PostAllReduce(maxima[e], count, ReduceOperation.Max));
                pending.Add(endpoints[e].PostGather(gatherSends[e], gatherBytes, gathered[e]));
                pending.Add(endpoints[e].PostBarrier());
            }
            pending.ForEach(p => p.Wait());
            for (int e = 0; e < endpoints.Count; e++)
            {
                for (int i = 0; i < count; i++)
                {
                    float sum = 0, max = float.NegativeInfinity;
                    for (int r = 0; r < size; r++)
                    {
                        sum += r * 1000 + i * 0.5f;
                        max = MathF.Max(max, (r * 7 + i) % (size + 3) - i * 0.25f);
                    }
                    Check(((float*)sums[e])[i] == sum, $"rank {endpoints[e].Rank}: all-reduce sum [{i}] = {((float*)sums[e])[i]}, expected {sum}");
                    Check(((float*)maxima[e])[i] == max, $"rank {endpoints[e].Rank}: all-reduce max [{i}] = {((float*)maxima[e])[i]}, expected {max}");
                }
                if (endpoints[e].Rank == 0)
                {
                    for (int i = 0; i < size * gatherBytes; i++)
                    {
                        byte expected = (byte)(i / gatherBytes * 16 + i % gatherBytes);
                        Check(((byte*)gathered[e])[i] == expected, $"rank 0: gathered byte {i} = {((byte*)gathered[e])[i]}, expected {expected}");
                    }
                }
            }
        }
        finally
        {
            allocations.ForEach(address => NativeMemory.Free((void*)address));
        }
    }

    private static byte Pattern(int rank, int step, int channel, int region, int i) => (byte)(rank * 37 + step * 11 + channel * 5 + region * 3 + i * 7 + i / 251);

    private static RingMessage Message((int ElementSize, int Count)[] shape, List<nint> allocations, Func<int, int, byte> content) =>
        new(shape.Select((s, region) => new Region(Bytes(allocations, s.ElementSize * s.Count, i => content(region, i)), (long)s.ElementSize * s.Count)).ToArray());

    private static nint Bytes(List<nint> allocations, int bytes, Func<int, byte> content)
    {
        nint address = (nint)NativeMemory.Alloc((nuint)bytes);
        allocations.Add(address);
        for (int i = 0; i < bytes; i++)
        {
            ((byte*)address)[i] = content(i);
        }
        return address;
    }

    private static nint Floats(List<nint> allocations, int count, Func<int, float> content)
    {
        nint address = (nint)NativeMemory.Alloc((nuint)(count * sizeof(float)));
        allocations.Add(address);
        for (int i = 0; i < count; i++)
        {
            ((float*)address)[i] = content(i);
        }
        return address;
    }

    private static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"check failed: {what}");
        }
    }
}
