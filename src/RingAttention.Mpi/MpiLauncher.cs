namespace RingAttention.Mpi;

/// <summary>Which MPI family's process manager started this process, judged by the environment it sets.</summary>
public enum MpiFamily
{
    /// <summary>Open MPI (mpiexec/prterun, or srun with PMIx).</summary>
    OpenMpi,

    /// <summary>MPICH and its derivatives (MPICH, Cray MPICH, Intel MPI, MVAPICH): Hydra or srun with PMI-1/PMI-2.</summary>
    Mpich,
}

/// <summary>The launcher's view of this process: family, rank and size, when an MPI launcher started it.</summary>
/// <param name="Family">The family whose launcher set the environment.</param>
/// <param name="Rank">This process's rank as the launcher numbered it.</param>
/// <param name="Size">Processes the launcher started.</param>
/// <param name="Evidence">The environment variable that identified the launcher.</param>
public sealed record MpiLauncher(MpiFamily Family, int Rank, int Size, string Evidence)
{
    /// <summary>
    /// The launcher that started this process, or null when none did: Open MPI sets <c>OMPI_COMM_WORLD_SIZE</c>
    /// (and PMIx-based launchers <c>PMIX_RANK</c>); Hydra and PMI-2 launchers set <c>PMI_RANK</c>/<c>PMI_SIZE</c>.
    /// </summary>
    public static MpiLauncher? Detect()
    {
        if (Integer("OMPI_COMM_WORLD_SIZE") is int ompiSize)
        {
            return new MpiLauncher(MpiFamily.OpenMpi, Integer("OMPI_COMM_WORLD_RANK") ?? 0, ompiSize, "OMPI_COMM_WORLD_SIZE");
        }
        if (Integer("PMI_SIZE") is int pmiSize)
        {
            return new MpiLauncher(MpiFamily.Mpich, Integer("PMI_RANK") ?? 0, pmiSize, "PMI_SIZE");
        }
        if (Integer("PMIX_RANK") is int pmixRank)
        {
            // srun --mpi=pmix gives no size variable before MPI_Init; Slurm's task count stands in.
            return new MpiLauncher(MpiFamily.OpenMpi, pmixRank, Integer("SLURM_NTASKS") ?? 0, "PMIX_RANK");
        }
        return null;
    }

    private static int? Integer(string variable) =>
        int.TryParse(Environment.GetEnvironmentVariable(variable), out int value) ? value : null;
}
