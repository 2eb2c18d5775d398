using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using RingAttention.Mpi;

namespace RingAttention.Cli;

/// <summary>Every MPI rank must run the same problem: a rank started with other options would exchange blocks of other sizes.</summary>
internal static class SameOptionsCheck
{
    /// <summary>Compares a hash of <paramref name="run"/> over <paramref name="world"/>; throws on every rank when any differs.</summary>
    public static void Check(Communicator world, RunOptions run)
    {
        long hash = (long)XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(run)));
        long low = world.Allreduce(hash, ReductionOperation.Min), high = world.Allreduce(hash, ReductionOperation.Max);
        if (low != high)
        {
            throw new InvalidInputException("options", "the ranks were started with different ringattn options; every rank must run the same problem");
        }
    }
}
