using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace RingAttention.Cpu;

/// <summary>
/// The kernel's own threads: <c>threads − 1</c> background workers plus the calling thread run each parallel region;
/// regions are run one at a time (the backend serialises kernel calls).
/// A ring makes many short kernel calls in quick succession; a worker that finishes a region keeps polling for the
/// next one for <see cref="PollTime"/> before it parks, so consecutive regions start without a thread wake-up (on a
/// busy virtual machine the thread pool took hundreds of microseconds to wake a worker, per region).
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    /// <summary>How long an idle worker polls for the next region before parking (yielding the core meanwhile).</summary>
    private static readonly TimeSpan PollTime = TimeSpan.FromMilliseconds(2);

    private readonly Thread[] _workers;
    private readonly object _gate = new();
    private bool _started;
    private Action? _share;
    private int _generation;
    private int _tickets;
    private int _running;
    private int _parked;
    private ExceptionDispatchInfo? _error;
    private volatile bool _stopping;

    public WorkerPool(int threads)
    {
        Guard.AtLeast(threads, 1);
        _workers = new Thread[threads - 1];
    }

    /// <summary>
    /// Runs <paramref name="share"/> once on each of <paramref name="participants"/> threads (the caller among them;
    /// at most the pool's threads) and returns when all have returned. The first exception is rethrown here.
    /// </summary>
    public void Run(int participants, Action share)
    {
        int helpers = Math.Min(participants, _workers.Length + 1) - 1;
        if (helpers <= 0)
        {
            share();
            return;
        }
        StartWorkers();
        _error = null;
        _share = share;
        Volatile.Write(ref _running, helpers);
        Volatile.Write(ref _tickets, helpers);
        Interlocked.Increment(ref _generation);
        if (Volatile.Read(ref _parked) > 0)
        {
            lock (_gate)
            {
                Monitor.PulseAll(_gate);
            }
        }
        RunShare(share);
        var spin = new SpinWait();
        while (Volatile.Read(ref _running) > 0)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
        _error?.Throw();
    }

    /// <summary>Workers start with the first parallel region, so a backend that never runs one holds no threads.</summary>
    private void StartWorkers()
    {
        if (_started)
        {
            return;
        }
        _started = true;
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Thread(Work) { IsBackground = true, Name = $"ringattn-cpu-{i + 1}" };
            _workers[i].Start();
        }
    }

    private void RunShare(Action share)
    {
        try
        {
            share();
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
        }
    }

    private void Work()
    {
        int seen = 0;
        while (true)
        {
            int generation = WaitForGeneration(seen);
            if (_stopping)
            {
                return;
            }
            seen = generation;
            // A ticket may belong to a later region than the one seen: then this worker simply joins that one.
            if (Interlocked.Decrement(ref _tickets) >= 0)
            {
                RunShare(_share!);
                Interlocked.Decrement(ref _running);
            }
        }
    }

    private int WaitForGeneration(int seen)
    {
        long start = Stopwatch.GetTimestamp();
        var spin = new SpinWait();
        int generation;
        while ((generation = Volatile.Read(ref _generation)) == seen && !_stopping)
        {
            if (Stopwatch.GetElapsedTime(start) < PollTime)
            {
                spin.SpinOnce(sleep1Threshold: -1);
                continue;
            }
            lock (_gate)
            {
                Interlocked.Increment(ref _parked);
                while ((generation = Volatile.Read(ref _generation)) == seen && !_stopping)
                {
                    Monitor.Wait(_gate);
                }
                Interlocked.Decrement(ref _parked);
            }
        }
        return generation;
    }

    public void Dispose()
    {
        _stopping = true;
        lock (_gate)
        {
            Monitor.PulseAll(_gate);
        }
        foreach (var worker in _workers)
        {
            worker?.Join();
        }
    }
}
