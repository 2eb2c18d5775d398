using RingAttention.Kernels;
using RingAttention.Ring;

namespace RingAttention.TestSupport;

/// <summary>
/// A backend that hands every call to an inner one: test doubles (a fake device clock, host memory posing as device
/// memory) override only the members they observe or fake. Compiled into each test project that needs it.
/// </summary>
internal abstract class DelegatingBackend(IAttentionBackend inner) : IAttentionBackend
{
    protected IAttentionBackend Inner => inner;

    public abstract string Name { get; }

    public virtual string Description => inner.Description;

    public virtual bool IsHostMemory => inner.IsHostMemory;

    public virtual IBackendClock Clock => inner.Clock;

    public virtual BackendBuffer Allocate(long bytes) => inner.Allocate(bytes);

    public virtual void Upload(ReadOnlySpan<byte> source, BackendBuffer destination, long offset = 0) => inner.Upload(source, destination, offset);

    public void Download(BackendBuffer source, long offset, Span<byte> destination) => inner.Download(source, offset, destination);

    public void Fill(BackendBuffer buffer, long offset, long count, float value) => inner.Fill(buffer, offset, count, value);

    public virtual void Forward(in FlashForwardParams args) => inner.Forward(args);

    public void FinishRows(in FlashFinalizeParams args) => inner.FinishRows(args);

    public void BackwardPreprocess(in FlashBackwardParams args) => inner.BackwardPreprocess(args);

    public void Backward(in FlashBackwardParams args) => inner.Backward(args);

    public void AddFloats(nint destination, nint source, long count) => inner.AddFloats(destination, source, count);

    public void Narrow(nint source, nint destination, long count, ElementType type) => inner.Narrow(source, destination, count, type);

    public void Synchronize() => inner.Synchronize();

    public virtual IRingTransport[] CreateEmulatedRing(int size) => inner.CreateEmulatedRing(size);

    /// <summary>Disposes the inner backend, which the double owns.</summary>
    public void Dispose() => inner.Dispose();
}
