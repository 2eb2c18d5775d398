using RingAttention.Cpu;
using RingAttention.Kernels;
using RingAttention.Layouts;

namespace RingAttention.Ring;

/// <summary>
/// The library entry point of the backward for one real rank (one process per device, e.g. under mpiexec): the
/// rank's shards of Q, K, V, the O and LSE its forward wrote, and dO in; its dQ, dK and dV out, the ring run over the
/// given transport. The emulated form over full tensors is <see cref="EmulatedRing.AttentionBackward{T}"/>.
/// </summary>
public static class RingBackward
{
    /// <summary>
    /// Runs this rank's backward pass once. Spans are the rank's shards: Q, O, dO and dQ [batch, local, heads, headDim],
    /// K, V, dK and dV [batch, local, kvHeads, headDim], LSE [batch, heads, local] (fp32, natural log, as the forward
    /// wrote it), local = layout.LocalLength(transport.Rank). A caller that runs many passes keeps a
    /// <see cref="RankSession"/> and uses the other overload, which reuses its workspace.
    /// </summary>
    public static RankReport Run<T>(AttentionOptions options, ISequenceLayout layout, IRingTransport transport, IAttentionBackend backend,
        ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, ReadOnlySpan<T> o, ReadOnlySpan<float> lse, ReadOnlySpan<T> dO,
        Span<T> dQ, Span<T> dK, Span<T> dV) where T : unmanaged
    {
        using var session = new RankSession(transport, backend);
        return Run(session, options, layout, q, k, v, o, lse, dO, dQ, dK, dV);
    }

    /// <summary>Runs a backward pass of <paramref name="session"/>'s rank; repeated calls of one size allocate no backend memory.</summary>
    public static unsafe RankReport Run<T>(RankSession session, AttentionOptions options, ISequenceLayout layout,
        ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, ReadOnlySpan<T> o, ReadOnlySpan<float> lse, ReadOnlySpan<T> dO,
        Span<T> dQ, Span<T> dK, Span<T> dV) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(layout);
        options.Validate();
        Guard.That(ElementTypes.Of<T>() == options.ElementType, nameof(T), $"the element type {options.ElementType}", typeof(T).Name);
        int local = layout.LocalLength(session.Rank);
        long queryElements = (long)options.Batch * local * options.QueryRowElements;
        long keyElements = (long)options.Batch * local * options.KeyRowElements;
        Guard.Length(q.Length, queryElements, "batch × local × heads × headDim");
        Guard.Length(k.Length, keyElements, "batch × local × kvHeads × headDim");
        Guard.Length(v.Length, keyElements, "batch × local × kvHeads × headDim");
        Guard.Length(o.Length, queryElements, "batch × local × heads × headDim");
        Guard.Length(lse.Length, (long)options.Batch * options.Heads * local, "batch × heads × local, the forward's LSE");
        Guard.Length(dO.Length, queryElements, "batch × local × heads × headDim");
        Guard.Length(dQ.Length, queryElements, "batch × local × heads × headDim");
        Guard.Length(dK.Length, keyElements, "batch × local × kvHeads × headDim");
        Guard.Length(dV.Length, keyElements, "batch × local × kvHeads × headDim");
        var backend = session.Backend;
        fixed (T* qp = q, kp = k, vp = v, op = o, dop = dO, dqp = dQ, dkp = dK, dvp = dV)
        fixed (float* lp = lse)
        {
            if (backend.IsHostMemory)
            {
                // The tensors are only read; O and LSE are the forward's, passed back in.
                var tensors = new RankTensors(options, local,
                    HostBuffer.Borrow(qp, q.Length * sizeof(T)), HostBuffer.Borrow(kp, k.Length * sizeof(T)), HostBuffer.Borrow(vp, v.Length * sizeof(T)),
                    HostBuffer.Borrow(op, o.Length * sizeof(T)), HostBuffer.Borrow(lp, lse.Length * sizeof(float)));
                var gradients = new RankGradients(options, local, HostBuffer.Borrow(dop, dO.Length * sizeof(T)),
                    HostBuffer.Borrow(dqp, dQ.Length * sizeof(T)), HostBuffer.Borrow(dkp, dK.Length * sizeof(T)), HostBuffer.Borrow(dvp, dV.Length * sizeof(T)));
                return session.Backward(options, layout, tensors, gradients);
            }
            var staged = session.StagedTensors(options, local);
            var stagedGradients = session.StagedGradients(options, local);
            HostStaging.Upload(backend, q, staged.Q);
            HostStaging.Upload(backend, k, staged.K);
            HostStaging.Upload(backend, v, staged.V);
            HostStaging.Upload(backend, o, staged.O);
            HostStaging.Upload(backend, lse, staged.Lse);
            HostStaging.Upload(backend, dO, stagedGradients.DO);
            var report = session.Backward(options, layout, staged, stagedGradients);
            HostStaging.Download(backend, stagedGradients.DQ, dQ);
            HostStaging.Download(backend, stagedGradients.DK, dK);
            HostStaging.Download(backend, stagedGradients.DV, dV);
            return report;
        }
    }
}
