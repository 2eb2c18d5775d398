using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Ring;

namespace RingAttention.Decode;

/// <summary>
/// Decoding in emulation: P <see cref="DecodeSession"/>s in this process over their backend's emulation ring, fed with
/// full tensors. The prefill runs once through <see cref="EmulatedRing.Attention"/> and each session keeps its
/// layout shard of K/V; each step begins every rank (append, local kernel, posted merge) and then ends them.
/// </summary>
public sealed class EmulatedDecode : IDisposable
{
    private readonly IRingTransport[] _transports;
    private readonly DecodeSession[] _sessions;

    /// <summary>
    /// P virtual ranks sharing <paramref name="options"/> and <paramref name="cacheOptions"/>, decoding on
    /// <paramref name="backend"/> (connected by its emulation transport; null: the CPU over an <see cref="InProcessRing"/>).
    /// The caller keeps and disposes the backend.
    /// </summary>
    public EmulatedDecode(AttentionOptions options, int ranks, DecodeCacheOptions? cacheOptions = null, IAttentionBackend? backend = null)
    {
        options.Validate();
        Guard.AtLeast(ranks, 1);
        Options = options;
        _transports = backend?.CreateEmulatedRing(ranks) ?? InProcessRing.Create(ranks);
        _sessions = _transports.Select(transport => new DecodeSession(options, transport, cacheOptions, backend)).ToArray();
    }

    /// <summary>The shared problem.</summary>
    public AttentionOptions Options { get; }

    /// <summary>The virtual ranks' sessions, in rank order.</summary>
    public IReadOnlyList<DecodeSession> Sessions => _sessions;

    /// <summary>Tokens in the sequence so far.</summary>
    public int SequenceLength => _sessions[0].SequenceLength;

    /// <summary>
    /// Prefills the prompt: full tensors [batch, N, …] in, full O [batch, N, heads, headDim] and LSE [batch, heads, N]
    /// out (as <see cref="EmulatedRing.Attention"/>); every virtual rank keeps its <paramref name="layout"/> shard of K/V.
    /// </summary>
    public RankReport[] Prefill<T>(ISequenceLayout layout, IAttentionBackend backend,
        ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, Span<T> o, Span<float> lse) where T : unmanaged
    {
        Guard.That(layout.Ranks == _sessions.Length, nameof(layout), $"a layout over {_sessions.Length} ranks", layout.Ranks);
        var reports = EmulatedRing.Attention(Options, layout, backend, q, k, v, o, lse);
        int width = Options.KeyRowElements;
        foreach (var session in _sessions)
        {
            var kShard = new T[(long)Options.Batch * layout.LocalLength(session.Rank) * width];
            var vShard = new T[kShard.Length];
            layout.Shard(session.Rank, k, kShard, Options.Batch, width);
            layout.Shard(session.Rank, v, vShard, Options.Batch, width);
            session.LoadPrefill<T>(layout, kShard, vShard);
        }
        return reports;
    }

    /// <summary>Appends T tokens [batch, T, kvHeads, headDim] without attending (each rank keeps its own).</summary>
    public void Append<T>(ReadOnlySpan<T> k, ReadOnlySpan<T> v) where T : unmanaged
    {
        foreach (var session in _sessions)
        {
            session.Append(k, v);
        }
    }

    /// <summary>
    /// One decode step over all virtual ranks (see <see cref="DecodeSession.Step"/>): q and o [batch, T, heads,
    /// headDim], k and v [batch, T, kvHeads, headDim], lse [batch, heads, T]. Returns every rank's report.
    /// </summary>
    public DecodeStepReport[] Step<T>(ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, Span<T> o, Span<float> lse) where T : unmanaged =>
        DecodeDriver.Step(_sessions, q, k, v, o, lse);

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var session in _sessions)
        {
            session.Dispose();
        }
        foreach (var transport in _transports)
        {
            transport.Dispose();
        }
    }
}
