using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Decode;

/// <summary>
/// Drives the sessions one process hosts (all P in emulation, one under MPI) through the collective phases, as
/// <see cref="RingDriver"/> does for the forward: a step begins on every hosted rank (append, local kernel, posted
/// merge) before any waits, so one thread can drive them all.
/// </summary>
public static class DecodeDriver
{
    /// <summary>
    /// Prefills every hosted session over the ring (<see cref="DecodeSession.Prefill"/>), one thread per session so
    /// the ring's exchanges between hosted ranks can meet. <paramref name="inputs"/> gives each session's shards
    /// (q, k, v, o, lse) in the order of <paramref name="sessions"/>.
    /// </summary>
    public static RankReport[] Prefill<T>(IReadOnlyList<DecodeSession> sessions, ISequenceLayout layout, IAttentionBackend backend,
        IReadOnlyList<(T[] Q, T[] K, T[] V, T[] O, float[] Lse)> inputs) where T : unmanaged
    {
        Guard.Length(inputs.Count, sessions.Count, "one set of shards per session", nameof(inputs));
        var reports = new RankReport[sessions.Count];
        var failures = new Exception?[sessions.Count];
        var threads = sessions.Select((session, index) => new Thread(() =>
        {
            try
            {
                var (q, k, v, o, lse) = inputs[index];
                reports[index] = session.Prefill<T>(layout, backend, q, k, v, o, lse);
            }
            catch (Exception e)
            {
                failures[index] = e;
            }
        }) { IsBackground = true, Name = $"ringattn-prefill-{session.Rank}" }).ToArray();
        foreach (var thread in threads)
        {
            thread.Start();
        }
        foreach (var thread in threads)
        {
            thread.Join();
        }
        var first = failures.FirstOrDefault(f => f is not null);
        if (first is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
        return reports;
    }

    /// <summary>
    /// One decode step on every hosted session with the same new tokens (see <see cref="DecodeSession.Step"/>);
    /// the merged O and LSE (identical on every rank) land in <paramref name="o"/> and <paramref name="lse"/>.
    /// </summary>
    public static DecodeStepReport[] Step<T>(IReadOnlyList<DecodeSession> sessions, ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, Span<T> o, Span<float> lse)
        where T : unmanaged
    {
        var pending = new DecodeSession.PendingStep[sessions.Count];
        for (int index = 0; index < sessions.Count; index++)
        {
            pending[index] = sessions[index].Begin(q, k, v, o.Length, lse.Length);
        }
        var reports = new DecodeStepReport[sessions.Count];
        var scratchO = new T[o.Length];
        var scratchLse = new float[lse.Length];
        for (int index = sessions.Count - 1; index >= 0; index--)
        {
            // Every rank gets the same merged result; the first session's lands in the caller's spans.
            reports[index] = index == 0 ? sessions[index].End(pending[index], o, lse) : sessions[index].End<T>(pending[index], scratchO, scratchLse);
        }
        return reports;
    }
}
