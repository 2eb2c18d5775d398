using RingAttention.Mpi;

namespace RingAttention.Nccl.Tests;

/// <summary>
/// The program the bootstrap tests launch under mpiexec (this assembly run with <c>dotnet</c>): the MPI half of the
/// NCCL bootstrap with stand-ins for what needs a GPU. Rank 0's stand-in unique id is broadcast; then each scenario
/// builds this rank's GPU claim from a stand-in device inventory (selection by the real local rank MPI reports) and
/// runs the real agreement over MPI. Each rank writes its findings to <c>DIR/rank-R.txt</c> (launchers may split or
/// interleave long lines of standard output); exits 1 with "probe failed" on any error.
/// Usage: <c>bootstrap SEED DIR</c>.
/// </summary>
public static class BootstrapProbe
{
    public static int Main(string[] args)
    {
        try
        {
            if (args is not ["bootstrap", var seedText, var directory] || !byte.TryParse(seedText, out byte seed))
            {
                Console.Error.WriteLine("usage: probe bootstrap SEED (0..255) DIR");
                return 2;
            }
            Bootstrap(seed, directory);
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"probe failed: {e}");
            return 1;
        }
    }

    /// <summary>The stand-in id rank 0 creates: 128 bytes that depend on the seed and the position.</summary>
    public static byte[] StandInId(byte seed) => Enumerable.Range(0, NcclUniqueId.Size).Select(i => (byte)(seed + 37 * i)).ToArray();

    private static void Bootstrap(byte seed, string directory)
    {
        using var mpi = new MpiEnvironment();
        var world = Communicator.World;
        world.OperationTimeout = TimeSpan.FromSeconds(60);
        int rank = world.Rank;
        string host = Environment.MachineName;
        var lines = new List<string>();

        // Only rank 0 may create the id; the others must receive it.
        var id = NcclBootstrap.ShareUniqueId(world,
            () => rank == 0 ? NcclUniqueId.FromBytes(StandInId(seed)) : throw new InvalidOperationException($"rank {rank} was asked to create the id"));
        lines.Add($"id {Convert.ToHexString(id.ToArray())}");

        // Each node shows as many stand-in GPUs as it has ranks: every rank gets the device of its local rank.
        lines.Add(Report("own", world, Claim(world, mpi, host, devices: mpi.LocalSize)));
        // One GPU fewer than ranks: the last local rank has none.
        lines.Add(Report("few", world, Claim(world, mpi, host, devices: mpi.LocalSize - 1)));
        // Every rank sees the same single GPU (as with one CUDA_VISIBLE_DEVICES for all): they would share it.
        lines.Add(Report("shared", world, Claim(world, mpi, host, devices: 1)));
        // Rank 1 cannot use CUDA at all.
        lines.Add(Report("unavailable", world, rank == 1
            ? new GpuClaim(rank, host, mpi.LocalRank, 0, null, null, "stand-in: no NVIDIA driver")
            : Claim(world, mpi, host, devices: mpi.LocalSize)));
        File.WriteAllLines(Path.Combine(directory, $"rank-{rank}.txt"), lines);
    }

    private static GpuClaim Claim(Communicator world, MpiEnvironment mpi, string host, int devices)
    {
        int? device = GpuPlacement.DeviceFor(mpi.LocalRank, devices);
        return new GpuClaim(world.Rank, host, mpi.LocalRank, devices, device, device is int d ? $"GPU-stand-in-{host}-{d}" : null, null);
    }

    private static string Report(string scenario, Communicator world, GpuClaim claim)
    {
        var verdict = NcclBootstrap.Agree(world, claim);
        return $"{scenario}: local {claim.LocalRank} device {claim.Device?.ToString() ?? "none"}: {verdict.Kind}: {verdict.Message}";
    }
}
