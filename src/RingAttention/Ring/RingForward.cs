using RingAttention.Cpu;
using RingAttention.Kernels;
using RingAttention.Layouts;

namespace RingAttention.Ring;

/// <summary>
/// The library entry point for one real rank (one process per device, e.g. under mpiexec): the rank's own shards
/// in, its O and LSE out, the ring run over the given transport.
/// </summary>
public static class RingForward
{
    /// <summary>
    /// Runs this rank's forward pass once. Spans are the rank's shards: Q and O [batch, local, heads, headDim], K and
    /// V [batch, local, kvHeads, headDim], LSE [batch, heads, local], local = layout.LocalLength(transport.Rank).
    /// Host backends use the spans in place; device backends copy them in and the results out. A caller that runs
    /// many passes keeps a <see cref="RankSession"/> and uses the other overload, which reuses its workspace.
    /// </summary>
    public static RankReport Run<T>(AttentionOptions options, ISequenceLayout layout, IRingTransport transport, IAttentionBackend backend,
        ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, Span<T> o, Span<float> lse) where T : unmanaged
    {
        using var session = new RankSession(transport, backend);
        return Run(session, options, layout, q, k, v, o, lse);
    }

    /// <summary>Runs a forward pass of <paramref name="session"/>'s rank; repeated calls of one size allocate no backend memory.</summary>
    public static unsafe RankReport Run<T>(RankSession session, AttentionOptions options, ISequenceLayout layout,
        ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, Span<T> o, Span<float> lse) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(session);
        options.Validate();
        Guard.That(ElementTypes.Of<T>() == options.ElementType, nameof(T), $"the element type {options.ElementType}", typeof(T).Name);
        int local = layout.LocalLength(session.Rank);
        Guard.Length(q.Length, (long)options.Batch * local * options.QueryRowElements, "batch × local × heads × headDim");
        Guard.Length(k.Length, (long)options.Batch * local * options.KeyRowElements, "batch × local × kvHeads × headDim");
        Guard.Length(v.Length, (long)options.Batch * local * options.KeyRowElements, "batch × local × kvHeads × headDim");
        Guard.Length(o.Length, (long)options.Batch * local * options.QueryRowElements, "batch × local × heads × headDim");
        Guard.Length(lse.Length, (long)options.Batch * options.Heads * local, "batch × heads × local");
        var backend = session.Backend;
        fixed (T* qp = q, kp = k, vp = v, op = o)
        fixed (float* lp = lse)
        {
            if (backend.IsHostMemory)
            {
                var tensors = new RankTensors(options, local,
                    HostBuffer.Borrow(qp, q.Length * sizeof(T)), HostBuffer.Borrow(kp, k.Length * sizeof(T)), HostBuffer.Borrow(vp, v.Length * sizeof(T)),
                    HostBuffer.Borrow(op, o.Length * sizeof(T)), HostBuffer.Borrow(lp, lse.Length * sizeof(float)));
                return session.Forward(options, layout, tensors);
            }
            var staged = session.StagedTensors(options, local);
            HostStaging.Upload(backend, q, staged.Q);
            HostStaging.Upload(backend, k, staged.K);
            HostStaging.Upload(backend, v, staged.V);
            var report = session.Forward(options, layout, staged);
            HostStaging.Download(backend, staged.O, o);
            HostStaging.Download(backend, staged.Lse, lse);
            return report;
        }
    }
}
