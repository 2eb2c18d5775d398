namespace RingAttention.Mpi;

/// <summary>
/// MPI for this process (MPI.NET's <c>MPI.Environment</c>): construction loads the library and calls
/// <c>MPI_Init_thread</c>, checking the thread level provided; disposal calls <c>MPI_Finalize</c> exactly once. MPI can
/// be initialised once per process, so at most one environment ever exists.
/// </summary>
public sealed class MpiEnvironment : IDisposable
{
    private static readonly Lock Sync = new();
    private static MpiEnvironment? _current;
    private static bool _finalized;
    private readonly Communicator _world;

    /// <summary>
    /// Initialises MPI asking for <paramref name="required"/> thread support, and fails (finalising again) when the
    /// library provides less than <paramref name="minimum"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">MPI was already initialised in this process.</exception>
    /// <exception cref="NotSupportedException">The thread level provided is below <paramref name="minimum"/>, or the
    /// world is smaller than the launcher started (the library does not belong to the launcher).</exception>
    public unsafe MpiEnvironment(ThreadLevel required = ThreadLevel.Multiple, ThreadLevel minimum = ThreadLevel.Serialized)
    {
        lock (Sync)
        {
            if (_current is not null || _finalized)
            {
                throw new InvalidOperationException("MPI was already initialised in this process; it can be initialised only once");
            }
            Library = MpiLibrary.Load();
            int provided = 0;
            MpiException.ThrowIfFailed(NativeMpi.MPI_Init_thread(null, null, (int)required, &provided));
            ProvidedThreadLevel = (ThreadLevel)provided;
            var constants = Library.Constants;
            try
            {
                if (ProvidedThreadLevel < minimum)
                {
                    throw new NotSupportedException($"{Library.Name} provides MPI thread level {ProvidedThreadLevel}; at least {minimum} is needed");
                }
                // Errors come back as codes (and become exceptions) instead of aborting inside the library.
                MpiException.ThrowIfFailed(NativeMpi.MPI_Comm_set_errhandler(constants.CommWorld, constants.ErrorsReturn));
                _world = new Communicator(new CommunicatorHandle(constants.CommWorld, ownsHandle: false), constants);
                var launcher = MpiLauncher.Detect();
                if (launcher is { Size: > 0 } && launcher.Size != _world.Size)
                {
                    throw new NotSupportedException(
                        $"the launcher started {launcher.Size} processes ({launcher.Evidence}) but MPI_COMM_WORLD has {_world.Size}: {Library.Name} does not belong to this launcher");
                }
                using (var node = _world.SplitShared())
                {
                    (LocalRank, LocalSize) = (node.Rank, node.Size);
                }
            }
            catch
            {
                NativeMpi.MPI_Finalize();
                _finalized = true;
                throw;
            }
            _current = this;
        }
    }

    /// <summary>The live environment, or null before one is created and after it is disposed.</summary>
    public static MpiEnvironment? Current
    {
        get
        {
            lock (Sync)
            {
                return _current;
            }
        }
    }

    /// <summary>Whether MPI has been finalised in this process (it cannot be initialised again).</summary>
    public static bool IsFinalized
    {
        get
        {
            lock (Sync)
            {
                return _finalized;
            }
        }
    }

    /// <summary>The library in use.</summary>
    public MpiLibrary Library { get; }

    /// <summary>The thread support level MPI provided.</summary>
    public ThreadLevel ProvidedThreadLevel { get; }

    /// <summary>This process's rank among the ranks on its node (e.g. to choose a GPU).</summary>
    public int LocalRank { get; }

    /// <summary>Ranks on this node.</summary>
    public int LocalSize { get; }

    /// <summary>All processes of the job.</summary>
    public Communicator World => _world;

    /// <summary>Calls <c>MPI_Finalize</c>, once; later calls do nothing.</summary>
    public void Dispose()
    {
        lock (Sync)
        {
            if (_finalized)
            {
                return;
            }
            _finalized = true;
            _current = null;
            MpiException.ThrowIfFailed(NativeMpi.MPI_Finalize());
        }
    }
}
