using System.Runtime.InteropServices;
using RingAttention.Ring;
using RingAttention.TestSupport;

namespace RingAttention.Mpi.Tests;

/// <summary>
/// The program the binding tests launch (this assembly run with <c>dotnet</c>), alone (singleton MPI) or under
/// mpiexec: it exercises the managed API against the real library and prints "probe ok rank R" when every check
/// passed; any failed check throws, prints "probe failed" and exits with status 1.
/// Modes: <c>api</c> (point-to-point, collectives, errors, timeouts, the ring transport's exchanges and collectives, finalisation) and
/// <c>large</c> (one message larger than int.MaxValue bytes from this rank to itself) and <c>transport</c> (the ring
/// transport's contract alone: mixed-size three-region messages with two exchanges in flight, and the collectives).
/// </summary>
public static class ProbeProgram
{
    public static int Main(string[] args)
    {
        try
        {
            switch (args.FirstOrDefault())
            {
                case "api":
                    Api();
                    break;
                case "large":
                    Large();
                    break;
                case "transport":
                    Transport();
                    break;
                default:
                    Console.Error.WriteLine("usage: probe api|large|transport");
                    return 2;
            }
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"probe failed: {e}");
            return 1;
        }
    }

    private static unsafe void Api()
    {
        var mpi = new MpiEnvironment();
        var world = Communicator.World;
        int rank = world.Rank, size = world.Size, next = (rank + 1) % size, previous = (rank - 1 + size) % size;
        Console.WriteLine($"probe rank {rank} size {size} local {mpi.LocalRank}/{mpi.LocalSize} family {mpi.Library.Family} threads {mpi.ProvidedThreadLevel} library {mpi.Library.Name}");
        world.OperationTimeout = TimeSpan.FromSeconds(60);

        // Collectives.
        Check(world.Allreduce(rank, ReductionOperation.Sum) == size * (size - 1) / 2, "Allreduce int sum");
        Check(world.Allreduce((long)rank << 33, ReductionOperation.Max) == (long)(size - 1) << 33, "Allreduce long max");
        Check(world.Allreduce(rank + 0.5, ReductionOperation.Min) == 0.5, "Allreduce double min");
        Check(world.Allreduce(1.5f, ReductionOperation.Sum) == 1.5f * size, "Allreduce float sum");
        Check(world.Allreduce(rank == 0 ? 0 : 1, ReductionOperation.LogicalAnd) == 0, "Allreduce logical and with a false");
        Check(world.Allreduce(1, ReductionOperation.LogicalAnd) == 1, "Allreduce logical and of trues");
        var gathered = world.Gather(rank * 10, root: 0);
        Check(rank == 0 ? gathered!.SequenceEqual(Enumerable.Range(0, size).Select(r => r * 10)) : gathered is null, "Gather");
        var variable = world.GatherVariable(Enumerable.Repeat((short)rank, rank + 1).ToArray(), root: size - 1);
        Check(rank == size - 1
            ? variable!.Select((part, r) => part.Length == r + 1 && part.All(v => v == r)).All(ok => ok)
            : variable is null, "GatherVariable");
        int value = rank == 0 ? 42 : -1;
        world.Broadcast(ref value, root: 0);
        Check(value == 42, "Broadcast value");
        var array = rank == size - 1 ? new[] { 1.0, 2.0, 3.0 } : new double[3];
        world.Broadcast(array, root: size - 1);
        Check(array.SequenceEqual([1.0, 2.0, 3.0]), "Broadcast array");
        world.Barrier();

        // Point-to-point around the ring, a message split into pieces of 1000 bytes.
        world.ChunkBytes = 1000;
        var outgoing = Enumerable.Range(0, 10_007).Select(i => (byte)(i * 7 + rank)).ToArray();
        var incoming = new byte[outgoing.Length];
        var receive = world.ImmediateReceive(incoming, previous, tag: 3);
        var send = world.ImmediateSend(outgoing, next, tag: 3);
        send.Wait();
        receive.Wait();
        Check(receive.IsCompleted && send.IsCompleted && receive.Operation.Contains("11 piece(s)"), "pieces: " + receive.Operation);
        Check(incoming.Select((b, i) => b == (byte)(i * 7 + previous)).All(ok => ok), "ring message content");
        world.ChunkBytes = 1L << 30;

        // A wait with a time limit returns false while the peer has not sent; the message still arrives afterwards.
        var late = new int[4];
        var lateReceive = world.ImmediateReceive(late, previous, tag: 77);
        Check(!lateReceive.Wait(TimeSpan.FromMilliseconds(200)), "timed wait on a message not yet sent");
        world.Barrier();
        var lateSend = world.ImmediateSend(new[] { rank, rank, rank, rank }, next, tag: 77);
        Check(lateReceive.Wait(TimeSpan.FromSeconds(30)) && lateSend.Wait(TimeSpan.FromSeconds(30)), "timed wait after the send");
        Check(late.All(v => v == previous), "late message content");

        // An MPI error code becomes an exception naming the call and carrying MPI's text: a negative count, which
        // the managed API never passes, sent straight to the library (errors return: MPI_ERRORS_RETURN is set).
        var error = Expect<MpiException>(() => SendNegativeCount(mpi, world, next));
        Check(error.Call.Contains("NativeMpi.MPI_Isend(null, -1") && error.ErrorCode != 0 && error.Message.Contains("failed with MPI error"), "error names the call: " + error.Message);
        Console.WriteLine($"probe error text: {error.Message}");

        // Argument checks name the argument.
        var bad = Expect<ArgumentOutOfRangeException>(() => world.ImmediateSend(new byte[1], size, tag: 0));
        Check(bad.Message.Contains("destination"), "bad destination: " + bad.Message);

        // The ring transport over native memory: the contract every transport follows (TransportContract).
        using (var transport = new MpiRingTransport(world, TimeSpan.FromSeconds(30)))
        {
            TransportContract.MixedRegionsWithTwoExchangesInFlight([transport]);
            TransportContract.Collectives([transport]);
        }

        world.Barrier();
        Console.WriteLine($"probe ok rank {rank}");

        // Disposal finalises exactly once; MPI cannot start again.
        mpi.Dispose();
        mpi.Dispose();
        Check(MpiEnvironment.IsFinalized && MpiEnvironment.Current is null, "finalised");
        Expect<InvalidOperationException>(() => _ = Communicator.World);
        Expect<InvalidOperationException>(() => new MpiEnvironment());
        Console.WriteLine($"probe finalised rank {rank}");
    }

    private static void Transport()
    {
        using var mpi = new MpiEnvironment();
        using (var transport = new MpiRingTransport(Communicator.World, TimeSpan.FromSeconds(60)))
        {
            TransportContract.MixedRegionsWithTwoExchangesInFlight([transport]);
            Console.WriteLine($"probe exchanges ok rank {transport.Rank} of {transport.Size}");
            TransportContract.Collectives([transport]);
            Console.WriteLine($"probe collectives ok rank {transport.Rank} of {transport.Size}");
        }
    }

    private static unsafe void Large()
    {
        using var mpi = new MpiEnvironment();
        var world = Communicator.World;
        long bytes = (long)int.MaxValue + 4097;
        byte* send = (byte*)NativeMemory.Alloc((nuint)bytes), receive = (byte*)NativeMemory.Alloc((nuint)bytes);
        try
        {
            for (long i = 0; i < bytes; i += 4096)
            {
                send[i] = (byte)(i / 4096 * 31);
            }
            send[bytes - 1] = 0x5A;
            var receiving = world.ImmediateReceive((nint)receive, bytes, world.Rank, tag: 1);
            var sending = world.ImmediateSend((nint)send, bytes, world.Rank, tag: 1);
            sending.Wait();
            receiving.Wait();
            Check(receiving.Operation.Contains("3 piece(s)"), "pieces: " + receiving.Operation);
            for (long i = 0; i < bytes; i += 4096)
            {
                Check(receive[i] == (byte)(i / 4096 * 31), $"large message byte {i}");
            }
            Check(receive[bytes - 1] == 0x5A, "large message last byte");
            Console.WriteLine($"probe ok rank {world.Rank}: {bytes} bytes in {receiving.Operation}");
        }
        finally
        {
            NativeMemory.Free(send);
            NativeMemory.Free(receive);
        }
    }

    private static unsafe void SendNegativeCount(MpiEnvironment mpi, Communicator world, int destination)
    {
        nint request = 0;
        MpiException.ThrowIfFailed(NativeMpi.MPI_Isend(null, -1, mpi.Library.Constants.Byte, destination, 0, world.Handle, &request));
    }

    private static T Expect<T>(Action action) where T : Exception
    {
        try
        {
            action();
        }
        catch (T e)
        {
            return e;
        }
        throw new InvalidOperationException($"expected {typeof(T).Name}");
    }

    private static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"check failed: {what}");
        }
    }
}
