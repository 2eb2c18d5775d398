using RingAttention.Kernels;
using RingAttention.Layouts;

namespace RingAttention.Ring;

/// <summary>
/// One rank of the ring for as long as the caller keeps it: its endpoint, its backend, and the workspace its passes
/// run in (receive buffers, running state, device copies of span inputs), allocated and touched on first use and
/// grown only when a larger problem comes, so a training loop that calls attention for every layer of every step
/// allocates nothing after the first call. Passes are built here (forward and backward; decode adds a
/// <c>Begin…</c> method and a pass class) and stepped by <see cref="RingDriver"/>; one pass at a time. The
/// session does not own the transport or the backend.
/// </summary>
public sealed class RankSession(IRingTransport transport, IAttentionBackend backend) : IDisposable
{
    private readonly RankWorkspace _workspace = new(backend ?? throw new ArgumentNullException(nameof(backend)));

    /// <summary>This rank's endpoint of the ring.</summary>
    public IRingTransport Transport { get; } = transport ?? throw new ArgumentNullException(nameof(transport));

    /// <summary>The device the rank computes on.</summary>
    public IAttentionBackend Backend => backend;

    /// <summary>This rank.</summary>
    public int Rank => Transport.Rank;

    /// <summary>Bytes the workspace holds now.</summary>
    public long WorkspaceBytes => _workspace.Bytes;

    /// <summary>
    /// Prepares a forward pass of <paramref name="tensors"/> (this rank's shards of a problem over
    /// <paramref name="layout"/>) for <see cref="RingDriver"/>; the workspace grows if the problem needs it.
    /// </summary>
    public ForwardPass BeginForward(AttentionOptions options, ISequenceLayout layout, RankTensors tensors) =>
        new(this, _workspace, options, layout, tensors);

    /// <summary>Runs a forward pass of this rank alone (the other ranks run theirs in their own processes or threads).</summary>
    public RankReport Forward(AttentionOptions options, ISequenceLayout layout, RankTensors tensors) =>
        RingDriver.Run([BeginForward(options, layout, tensors)])[0];

    /// <summary>
    /// Prepares a backward pass for <see cref="RingDriver"/>: <paramref name="tensors"/> hold the rank's Q, K, V and the
    /// O and final LSE its forward wrote; <paramref name="gradients"/> hold dO, and receive dQ, dK and dV.
    /// </summary>
    public BackwardPass BeginBackward(AttentionOptions options, ISequenceLayout layout, RankTensors tensors, RankGradients gradients) =>
        new(this, _workspace, options, layout, tensors, gradients);

    /// <summary>Runs a backward pass of this rank alone (the other ranks run theirs in their own processes or threads).</summary>
    public RankReport Backward(AttentionOptions options, ISequenceLayout layout, RankTensors tensors, RankGradients gradients) =>
        RingDriver.Run([BeginBackward(options, layout, tensors, gradients)])[0];

    /// <summary>Backend tensors for span inputs on a device backend, reused across calls while large enough.</summary>
    internal RankTensors StagedTensors(AttentionOptions options, int localLength) => _workspace.StagedTensors(options, localLength);

    /// <summary>Backend gradient tensors for span inputs on a device backend, reused across calls while large enough.</summary>
    internal RankGradients StagedGradients(AttentionOptions options, int localLength) => _workspace.StagedGradients(options, localLength);

    /// <inheritdoc />
    public void Dispose() => _workspace.Dispose();
}
