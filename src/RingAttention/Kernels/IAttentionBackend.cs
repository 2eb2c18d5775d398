using RingAttention.Decode;
using RingAttention.Ring;

namespace RingAttention.Kernels;

/// <summary>
/// Memory that a backend's kernels and the ring transports address: host memory for the CPU backend, device
/// memory for CUDA. <see cref="Address"/> is what the kernels' (internal) parameter structs point at.
/// </summary>
public abstract class BackendBuffer : IDisposable
{
    /// <summary>Address of the first byte.</summary>
    public abstract nint Address { get; }

    /// <summary>Size in bytes.</summary>
    public abstract long Bytes { get; }

    /// <summary>Releases the memory if this buffer owns it.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases owned memory.</summary>
    protected abstract void Dispose(bool disposing);
}

/// <summary>
/// What every backend offers, so that callers never test for a capability: memory its kernels address (allocate,
/// upload, download, fill; <see cref="HostStaging"/> moves host data in and out the same way for every backend),
/// a clock (<see cref="Clock"/>), the kernels (the forward block kernel that continues a running state, and the
/// step that turns that state into rows of O and LSE; the backward's preprocess, block kernel, fp32 add and convert),
/// and the transport that connects P virtual ranks on it. A backend that lacks a kernel still offers the member and
/// throws an <see cref="InvalidInputException"/> naming what is missing.
/// Calls are ordered: a backend may run them asynchronously (a GPU stream), and <see cref="Synchronize"/> waits for
/// all of them.
/// </summary>
public interface IAttentionBackend : IDisposable
{
    /// <summary>Short name (cpu, cuda).</summary>
    string Name { get; }

    /// <summary>One line describing the device and how it is used (threads, SIMD width, GPU name).</summary>
    string Description { get; }

    /// <summary>Whether buffers live in this process's host memory (the CPU backend), so host data can be used in place.</summary>
    bool IsHostMemory { get; }

    /// <summary>The backend's clock: a stopwatch on the CPU, events on a GPU's stream.</summary>
    IBackendClock Clock { get; }

    /// <summary>Allocates <paramref name="bytes"/> bytes, 64-byte aligned, contents undefined.</summary>
    BackendBuffer Allocate(long bytes);

    /// <summary>Copies host bytes into the buffer at <paramref name="offset"/>.</summary>
    void Upload(ReadOnlySpan<byte> source, BackendBuffer destination, long offset = 0);

    /// <summary>Copies bytes of the buffer at <paramref name="offset"/> to host memory (after pending work).</summary>
    void Download(BackendBuffer source, long offset, Span<byte> destination);

    /// <summary>Sets <paramref name="count"/> fp32 values starting at <paramref name="offset"/> bytes to <paramref name="value"/>.</summary>
    void Fill(BackendBuffer buffer, long offset, long count, float value);

    /// <summary>Runs the block kernel: continues the running state in <paramref name="args"/> over its keys.</summary>
    internal void Forward(in FlashForwardParams args);

    /// <summary>Turns the running state into rows of O (normalised, in the storage type) and LSE.</summary>
    internal void FinishRows(in FlashFinalizeParams args);

    /// <summary>
    /// The backward's once-per-rank preprocess: D = rowsum(dO ∘ O) in fp32 into <see cref="FlashBackwardParams.DSum"/>
    /// and the query rows' fp32 dQ accumulator zeroed.
    /// </summary>
    internal void BackwardPreprocess(in FlashBackwardParams args);

    /// <summary>
    /// The backward block kernel: adds one (query rows, key rows) pair's contributions to the fp32 dQ, dK and dV
    /// accumulators, with P recomputed from the final LSE.
    /// </summary>
    internal void Backward(in FlashBackwardParams args);

    /// <summary>Adds <paramref name="count"/> fp32 values at <paramref name="source"/> to those at <paramref name="destination"/>.</summary>
    internal void AddFloats(nint destination, nint source, long count);

    /// <summary>
    /// Casts <paramref name="count"/> fp32 values at <paramref name="source"/> to <paramref name="type"/> at
    /// <paramref name="destination"/> (round to nearest even); the two may be the same address when the type is fp32.
    /// </summary>
    internal void Narrow(nint source, nint destination, long count, ElementType type);

    /// <summary>Waits until every call made so far has completed.</summary>
    void Synchronize();

    /// <summary>Creates the <paramref name="size"/> endpoints, in rank order, of a ring of virtual ranks sharing this backend's memory.</summary>
    IRingTransport[] CreateEmulatedRing(int size);

    /// <summary>
    /// Creates a split-KV decode kernel for one rank's cache, writing its partials into this backend's memory. Host
    /// memory backends share the CPU kernel (<paramref name="threads"/> threads, default all cores); a device backend
    /// overrides it with its own, which keeps the cache on the device.
    /// </summary>
    internal IDecodeKernel CreateDecodeKernel(int? threads) => new Cpu.DecodeKernel(threads);
}
