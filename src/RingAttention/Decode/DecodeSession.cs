using System.Diagnostics;
using RingAttention.Cpu;
using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Decode;

/// <summary>
/// One rank's side of sequence-parallel decoding (the library entry point for a real rank, e.g. under mpiexec).
/// <see cref="Prefill"/> runs the ring forward over the prompt in any layout and keeps the rank's K/V shard as its
/// cache; <see cref="Append"/> and <see cref="Step"/> add tokens by an <see cref="AppendPlacement"/> (every rank
/// gets all new tokens and keeps its own, so appending needs no communication); <see cref="Step"/> attends the new
/// queries to the local cache with the backend's split-KV kernel (<see cref="IAttentionBackend.CreateDecodeKernel"/>:
/// the CPU kernel, or on CUDA the GPU kernel over a device copy of the cache) and merges the ranks' partials with one
/// collective (<see cref="DecodeMerge"/>) in the backend's memory. Every rank calls the same methods with the same
/// arguments' shapes in the same order.
/// </summary>
public sealed class DecodeSession : IDisposable
{
    private readonly IRingTransport _transport;
    private readonly DecodeCacheOptions _cacheOptions;
    private readonly IAttentionBackend _backend;
    private readonly CpuBackend? _ownedBackend;
    private readonly IDecodeKernel _kernel;
    private readonly DecodeMerge _merge;
    private KvCacheShard? _cache;
    private AppendPlacement? _placement;

    /// <summary>
    /// A session for the rank of <paramref name="transport"/>; nothing is cached until a prefill. The decode kernel
    /// and the merge run on <paramref name="backend"/>, whose memory must be the transport's (as a job host pairs
    /// them: the CPU with the in-process ring or MPI, CUDA with its copy ring or NCCL); null: the CPU, with host memory.
    /// </summary>
    public DecodeSession(AttentionOptions options, IRingTransport transport, DecodeCacheOptions? cacheOptions = null, IAttentionBackend? backend = null)
    {
        options.Validate();
        cacheOptions ??= new DecodeCacheOptions();
        cacheOptions.Validate();
        (Options, _transport, _cacheOptions) = (options, transport, cacheOptions);
        _ownedBackend = backend is null ? new CpuBackend(1) : null;
        _backend = backend ?? _ownedBackend!;
        _kernel = _backend.CreateDecodeKernel(cacheOptions.Threads);
        _merge = new DecodeMerge(transport.Rank, transport.Size, _backend);
    }

    /// <summary>The shared problem (shapes, mask, scale, storage type).</summary>
    public AttentionOptions Options { get; }

    /// <summary>This rank.</summary>
    public int Rank => _transport.Rank;

    /// <summary>Ranks P.</summary>
    public int Ranks => _transport.Size;

    /// <summary>Tokens in the whole sequence so far (prefill plus appended), over all ranks.</summary>
    public int SequenceLength { get; private set; }

    /// <summary>This rank's cache; throws before the prefill.</summary>
    public KvCacheShard Cache => _cache ?? throw new InvalidOperationException("the session has no cache yet: call Prefill (or LoadPrefill) first");

    /// <summary>Where appended tokens go; throws before the prefill.</summary>
    public AppendPlacement Placement => _placement ?? throw new InvalidOperationException("the session has no placement yet: call Prefill (or LoadPrefill) first");

    /// <summary>
    /// Runs the ring forward over the prompt (<see cref="RingForward"/>) on <paramref name="backend"/> and keeps
    /// this rank's K/V as its cache. Spans are this rank's shards as for <see cref="RingForward"/>.
    /// </summary>
    public RankReport Prefill<T>(ISequenceLayout layout, IAttentionBackend backend,
        ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, Span<T> o, Span<float> lse) where T : unmanaged
    {
        CheckLayout(layout);
        var report = RingForward.Run(Options, layout, _transport, backend, q, k, v, o, lse);
        LoadPrefill(layout, k, v);
        return report;
    }

    /// <summary>
    /// Takes this rank's prefill K/V shards [batch, local, kvHeads, headDim] (local = layout.LocalLength(rank)) as
    /// its cache without running the forward (the emulated form runs one forward for all ranks).
    /// </summary>
    public void LoadPrefill<T>(ISequenceLayout layout, ReadOnlySpan<T> k, ReadOnlySpan<T> v) where T : unmanaged
    {
        CheckLayout(layout);
        if (_cache is not null)
        {
            throw new InvalidOperationException("the session already holds a prefill; create a new session for a new sequence");
        }
        int local = layout.LocalLength(Rank);
        int capacity = (int)Math.Min(int.MaxValue, (long)local + _cacheOptions.Headroom);
        if (_cacheOptions.MaxTokensPerRank is int most && local > most)
        {
            throw new InvalidInputException(nameof(DecodeCacheOptions.MaxTokensPerRank),
                $"{nameof(DecodeCacheOptions.MaxTokensPerRank)}: expected at least the prefill shard of rank {Rank} ({local} tokens), actual {most}.");
        }
        var cache = new KvCacheShard(Options, Math.Min(capacity, _cacheOptions.MaxTokensPerRank ?? int.MaxValue), _cacheOptions.MaxTokensPerRank);
        try
        {
            foreach (var segment in layout.Segments(Rank))
            {
                for (int i = 0; i < segment.Count; i++)
                {
                    cache.Append(k, v, local, segment.LocalStart + i, segment.GlobalAt(i));
                }
            }
        }
        catch
        {
            cache.Dispose();
            throw;
        }
        _cache = cache;
        _placement = new AppendPlacement(Ranks, _cacheOptions.BlockSize, layout.SequenceLength);
        SequenceLength = layout.SequenceLength;
    }

    /// <summary>
    /// Appends T tokens at the end of the sequence without attending: <paramref name="k"/> and <paramref name="v"/>
    /// are the new tokens' [batch, T, kvHeads, headDim] (the same on every rank); this rank keeps those the placement
    /// gives it.
    /// </summary>
    public void Append<T>(ReadOnlySpan<T> k, ReadOnlySpan<T> v) where T : unmanaged
    {
        var cache = Cache;
        int width = Options.KeyRowElements;
        Guard.That(k.Length % ((long)Options.Batch * width) == 0 && k.Length > 0, nameof(k),
            $"a whole number (at least 1) of token rows of batch × kvHeads × headDim = {(long)Options.Batch * width} elements", k.Length);
        int tokens = k.Length / (Options.Batch * width);
        Guard.Length(v.Length, k.Length, "the same shape as k", nameof(v));
        Guard.That((long)SequenceLength + tokens <= int.MaxValue, nameof(k), $"at most {int.MaxValue - SequenceLength} more tokens", tokens);
        var placement = Placement;
        int mine = 0;
        for (int t = 0; t < tokens; t++)
        {
            mine += placement.RankOf(SequenceLength + t) == Rank ? 1 : 0;
        }
        // Room for all of them first, so a full cache fails before any token is kept.
        cache.Reserve(mine, SequenceLength);
        for (int t = 0; t < tokens; t++)
        {
            int position = SequenceLength + t;
            if (_placement!.RankOf(position) == Rank)
            {
                cache.Append(k, v, tokens, t, position);
            }
        }
        SequenceLength += tokens;
    }

    /// <summary>
    /// One decode step: appends the T new tokens' K/V, attends their queries to the whole cache (causally by global
    /// position, so they see each other in order) and merges over all ranks. <paramref name="q"/> and
    /// <paramref name="o"/> are [batch, T, heads, headDim], <paramref name="k"/> and <paramref name="v"/> [batch, T,
    /// kvHeads, headDim], <paramref name="lse"/> fp32 [batch, heads, T]; every rank gets the same merged O and LSE.
    /// </summary>
    public DecodeStepReport Step<T>(ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, Span<T> o, Span<float> lse) where T : unmanaged
    {
        var pending = Begin(q, k, v, o.Length, lse.Length);
        return End(pending, o, lse);
    }

    /// <summary>First half of a step, up to the posted merge (the emulated form begins every rank, then ends them).</summary>
    internal PendingStep Begin<T>(ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, int oLength, int lseLength) where T : unmanaged
    {
        Guard.That(ElementTypes.Of<T>() == Options.ElementType, nameof(T), $"the element type {Options.ElementType}", typeof(T).Name);
        var cache = Cache;
        long queryRow = (long)Options.Batch * Options.QueryRowElements;
        Guard.That(q.Length % queryRow == 0 && q.Length > 0, nameof(q), $"a whole number (at least 1) of token rows of batch × heads × headDim = {queryRow} elements", q.Length);
        int tokens = (int)(q.Length / queryRow);
        Guard.Length(k.Length, (long)Options.Batch * tokens * Options.KeyRowElements, "batch × T × kvHeads × headDim (T from q)", nameof(k));
        Guard.Length(v.Length, (long)Options.Batch * tokens * Options.KeyRowElements, "batch × T × kvHeads × headDim (T from q)", nameof(v));
        Guard.Length(oLength, q.Length, "batch × T × heads × headDim (T from q)", "o");
        Guard.Length(lseLength, (long)Options.Batch * Options.Heads * tokens, "batch × heads × T (T from q)", "lse");
        long start = Stopwatch.GetTimestamp();
        var positions = Enumerable.Range(SequenceLength, tokens).ToArray();
        Append(k, v);
        var query = Widen(q);
        int rows = Options.Batch * tokens * Options.Heads;
        var (buffer, offset) = _merge.Prepare(rows, Options.HeadDim);
        _kernel.Run(Options, cache, query, positions, buffer, offset);
        // A device kernel returns before it is done: the time is the kernel's only once it finished.
        _backend.Synchronize();
        double kernelSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        start = Stopwatch.GetTimestamp();
        var exchange = _merge.Post(_transport);
        return new PendingStep(exchange, tokens, rows, cache.Length, cache.Bytes, kernelSeconds, Stopwatch.GetElapsedTime(start).TotalSeconds);
    }

    /// <summary>Second half of a step: waits for the merge, combines and writes O and LSE.</summary>
    internal DecodeStepReport End<T>(PendingStep pending, Span<T> o, Span<float> lse) where T : unmanaged
    {
        int tokens = pending.Tokens, heads = Options.Heads;
        Guard.Length(o.Length, (long)pending.Rows * Options.HeadDim, "batch × T × heads × headDim", nameof(o));
        Guard.Length(lse.Length, pending.Rows, "batch × heads × T", nameof(lse));
        long start = Stopwatch.GetTimestamp();
        pending.Exchange.Wait();
        var mergedO = new float[pending.Rows * Options.HeadDim];
        var mergedLse = new float[pending.Rows];
        _merge.Finish(mergedO, mergedLse);
        Narrow(mergedO, o);
        for (int b = 0; b < Options.Batch; b++)
        {
            for (int t = 0; t < tokens; t++)
            {
                for (int h = 0; h < heads; h++)
                {
                    lse[(b * heads + h) * tokens + t] = mergedLse[(b * tokens + t) * heads + h];
                }
            }
        }
        double mergeSeconds = pending.PostSeconds + Stopwatch.GetElapsedTime(start).TotalSeconds;
        return new DecodeStepReport(Rank, pending.CacheLength, pending.CacheBytes, pending.KernelSeconds, mergeSeconds);
    }

    private unsafe float[] Widen<T>(ReadOnlySpan<T> values) where T : unmanaged
    {
        var wide = new float[values.Length];
        fixed (T* source = values)
        {
            StorageConversion.Widen(Options.ElementType, source, wide);
        }
        return wide;
    }

    private unsafe void Narrow<T>(ReadOnlySpan<float> values, Span<T> target) where T : unmanaged
    {
        fixed (T* destination = target)
        {
            StorageConversion.Narrow(values, Options.ElementType, destination);
        }
    }

    private void CheckLayout(ISequenceLayout layout)
    {
        Guard.That(layout.Ranks == Ranks, nameof(layout), $"a layout over {Ranks} ranks (the transport's size)", layout.Ranks);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _kernel.Dispose();
        _merge.Dispose();
        _cache?.Dispose();
        _ownedBackend?.Dispose();
    }

    /// <summary>A step whose merge is posted.</summary>
    internal sealed record PendingStep(IPendingExchange Exchange, int Tokens, int Rows, int CacheLength, long CacheBytes, double KernelSeconds, double PostSeconds);
}
