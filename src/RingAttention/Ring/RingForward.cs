using System.Runtime.InteropServices;
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
    /// Runs this rank's forward pass. Spans are the rank's shards: Q and O [batch, local, heads, headDim], K and V
    /// [batch, local, kvHeads, headDim], LSE [batch, heads, local], local = layout.LocalLength(transport.Rank).
    /// Host backends use the spans in place; device backends copy them in and the results out.
    /// </summary>
    public static unsafe RankReport Run<T>(AttentionOptions options, ISequenceLayout layout, IRingTransport transport, IAttentionBackend backend,
        ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, Span<T> o, Span<float> lse) where T : unmanaged
    {
        options.Validate();
        Guard.That(ElementTypes.Of<T>() == options.ElementType, nameof(T), $"the element type {options.ElementType}", typeof(T).Name);
        int local = layout.LocalLength(transport.Rank);
        Guard.Length(q.Length, (long)options.Batch * local * options.QueryRowElements, "batch × local × heads × headDim");
        Guard.Length(k.Length, (long)options.Batch * local * options.KeyRowElements, "batch × local × kvHeads × headDim");
        Guard.Length(v.Length, (long)options.Batch * local * options.KeyRowElements, "batch × local × kvHeads × headDim");
        Guard.Length(o.Length, (long)options.Batch * local * options.QueryRowElements, "batch × local × heads × headDim");
        Guard.Length(lse.Length, (long)options.Batch * options.Heads * local, "batch × heads × local");
        fixed (T* qp = q, kp = k, vp = v, op = o)
        fixed (float* lp = lse)
        {
            using var tensors = backend.IsHostMemory
                ? new RankTensors(options, local,
                    HostBuffer.Borrow(qp, q.Length * sizeof(T)), HostBuffer.Borrow(kp, k.Length * sizeof(T)), HostBuffer.Borrow(vp, v.Length * sizeof(T)),
                    HostBuffer.Borrow(op, o.Length * sizeof(T)), HostBuffer.Borrow(lp, lse.Length * sizeof(float)))
                : RankTensors.Allocate(backend, options, local);
            if (!backend.IsHostMemory)
            {
                backend.Upload(MemoryMarshal.AsBytes(q), tensors.Q);
                backend.Upload(MemoryMarshal.AsBytes(k), tensors.K);
                backend.Upload(MemoryMarshal.AsBytes(v), tensors.V);
            }
            using var rank = new RingRank(options, layout, transport, backend, tensors);
            var report = RingDriver.Forward([rank])[0];
            if (!backend.IsHostMemory)
            {
                backend.Download(tensors.O, 0, MemoryMarshal.AsBytes(o));
                backend.Download(tensors.Lse, 0, MemoryMarshal.AsBytes(lse));
            }
            return report;
        }
    }
}
