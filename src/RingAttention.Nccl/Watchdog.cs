namespace RingAttention.Nccl;

/// <summary>
/// Guards a blocking native call that cannot be interrupted (communicator creation, which waits for every rank to
/// join; a first exchange, which connects two ranks): unless disposed within the limit, it runs <c>expired</c> on a
/// timer thread, which must end the job (print the cause and call <c>MPI_Abort</c>), so that a rank that never
/// takes part cannot leave the others hanging.
/// </summary>
internal sealed class Watchdog : IDisposable
{
    private readonly Timer _timer;

    public Watchdog(TimeSpan limit, Action expired)
    {
        ArgumentNullException.ThrowIfNull(expired);
        _timer = new Timer(_ => expired(), null, limit, Timeout.InfiniteTimeSpan);
    }

    public void Dispose() => _timer.Dispose();
}
