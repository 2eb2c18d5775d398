using System.Diagnostics;
using System.Runtime.InteropServices;

namespace RingAttention.Mpi;

/// <summary>
/// A nonblocking operation in flight (MPI.NET's <c>Request</c>): one or more MPI requests (a message larger than
/// <see cref="Communicator.ChunkBytes"/> travels as several), plus the pins that keep managed buffers in place until
/// the operation completes. Test and wait from one thread at a time.
/// </summary>
public sealed class Request
{
    private readonly nint[] _handles;
    private GCHandle[] _pins;
    private int _completed;

    internal Request(string operation, nint[] handles, GCHandle[] pins)
    {
        Operation = operation;
        (_handles, _pins) = (handles, pins);
        if (handles.Length == 0)
        {
            Release();
        }
    }

    /// <summary>What the request does, e.g. "MPI_Irecv of 4096 bytes from rank 3 (tag 2)", for messages.</summary>
    public string Operation { get; }

    /// <summary>Whether the operation has completed (as last observed by <see cref="Test"/> or a wait).</summary>
    public bool IsCompleted => _completed == _handles.Length;

    /// <summary>Makes progress and reports whether the operation has completed, without blocking.</summary>
    public unsafe bool Test()
    {
        byte* status = stackalloc byte[MpiConstants.MaxStatusBytes];
        fixed (nint* handles = _handles)
        {
            while (_completed < _handles.Length)
            {
                int flag = 0;
                MpiException.ThrowIfFailed(NativeMpi.MPI_Test(handles + _completed, &flag, status));
                if (flag == 0)
                {
                    return false;
                }
                _completed++;
            }
        }
        Release();
        return true;
    }

    /// <summary>Blocks until the operation completes.</summary>
    public unsafe void Wait()
    {
        byte* status = stackalloc byte[MpiConstants.MaxStatusBytes];
        fixed (nint* handles = _handles)
        {
            while (_completed < _handles.Length)
            {
                MpiException.ThrowIfFailed(NativeMpi.MPI_Wait(handles + _completed, status));
                _completed++;
            }
        }
        Release();
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> (<see cref="Timeout.InfiniteTimeSpan"/>: without limit); returns false if
    /// the operation is still incomplete then. Polls, so that a peer that never answers cannot block the caller forever.
    /// </summary>
    public bool Wait(TimeSpan timeout)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            Wait();
            return true;
        }
        long start = Stopwatch.GetTimestamp();
        var spinner = new SpinWait();
        while (!Test())
        {
            if (Stopwatch.GetElapsedTime(start) >= timeout)
            {
                return false;
            }
            spinner.SpinOnce(sleep1Threshold: 40);
        }
        return true;
    }

    private void Release()
    {
        foreach (var pin in _pins)
        {
            pin.Free();
        }
        _pins = [];
    }
}
