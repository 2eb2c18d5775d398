using RingAttention.Mpi.Tests;

namespace RingAttention.Nccl.Tests;

/// <summary>
/// The MPI half of the NCCL bootstrap under each family's mpiexec, without a GPU: rank 0's (stand-in) unique id
/// reaches every rank byte for byte, each rank selects the device of its local rank, and placements that do not give
/// each rank its own GPU are refused on every rank, with the same verdict naming the ranks, the host and the cause.
/// </summary>
public sealed class BootstrapTests
{
    private const int Ranks = 3;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    public static TheoryData<string> Families => new() { Launchers.OpenMpi.Name, Launchers.Mpich.Name };

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void Ranks_share_the_id_select_gpus_by_local_rank_and_refuse_bad_placements(string family)
    {
        var launcher = Launchers.ByName(family);
        Launchers.Require(launcher);
        const byte seed = 201;
        var directory = Directory.CreateTempSubdirectory("ringattn-bootstrap-");
        try
        {
            var (file, arguments) = Launchers.Command(launcher, Ranks, "dotnet",
                [typeof(BootstrapProbe).Assembly.Location, "bootstrap", seed.ToString(), directory.FullName]);
            var result = ChildProcess.Run(file, arguments, Limit);
            Assert.True(result.ExitCode == 0, result.ToString());

            string host = Environment.MachineName;
            string few = $"rank 2 is local rank 2 on host {host}, which shows 2 CUDA device(s) to it: one GPU per rank, so start at most 2 rank(s) on that node " +
                $"({Ranks} were started there), or give each rank its own GPU (CUDA_VISIBLE_DEVICES, Slurm's --gpus-per-task=1)";
            string shared = $"ranks 0, 1 and 2 on host {host} would share one GPU (device 0, GPU-stand-in-{host}-0): one GPU per rank, so start at most as many " +
                "ranks on a node as it has GPUs and do not give several ranks the same CUDA_VISIBLE_DEVICES";
            for (int rank = 0; rank < Ranks; rank++)
            {
                // One node: the local rank is the rank; every rank reaches the same verdict.
                Assert.Equal(
                    [
                        $"id {Convert.ToHexString(BootstrapProbe.StandInId(seed))}",
                        $"own: local {rank} device {rank}: Usable: {Ranks} rank(s), one GPU each",
                        $"few: local {rank} device {(rank < Ranks - 1 ? rank : "none")}: Conflict: {few}",
                        $"shared: local {rank} device 0: Conflict: {shared}",
                        $"unavailable: local {rank} device {(rank == 1 ? "none" : rank)}: Unavailable: rank 1 on host {host}: stand-in: no NVIDIA driver",
                    ],
                    File.ReadAllLines(Path.Combine(directory.FullName, $"rank-{rank}.txt")));
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
