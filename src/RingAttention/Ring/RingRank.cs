using RingAttention.Kernels;
using RingAttention.Layouts;

namespace RingAttention.Ring;

/// <summary>
/// A rank bound to one forward problem: a <see cref="RankSession"/> of its own and the <see cref="ForwardPass"/> over
/// the given tensors, stepped by <see cref="RingDriver"/>. Running it again reuses the session's workspace.
/// </summary>
public sealed class RingRank : IRingPass, IDisposable
{
    private readonly RankSession _session;
    private readonly ForwardPass _pass;
    private readonly AttentionOptions _options;
    private readonly ISequenceLayout _layout;

    /// <summary>Prepares rank <see cref="IRingTransport.Rank"/> of the ring over <paramref name="layout"/>.</summary>
    public RingRank(AttentionOptions options, ISequenceLayout layout, IRingTransport transport, IAttentionBackend backend, RankTensors tensors)
    {
        (_options, _layout) = (options, layout);
        _session = new RankSession(transport, backend);
        try
        {
            _pass = _session.BeginForward(options, layout, tensors);
        }
        catch
        {
            _session.Dispose();
            throw;
        }
    }

    /// <summary>This rank.</summary>
    public int Rank => _pass.Rank;

    /// <summary>Ranks in the ring (and steps in a pass).</summary>
    public int RingSize => _pass.Steps;

    /// <inheritdoc />
    public int Steps => _pass.Steps;

    /// <summary>Rows this rank holds.</summary>
    public int LocalLength => _pass.LocalLength;

    /// <summary>The rank's tensors (O and LSE are valid after <see cref="Finish"/>).</summary>
    public RankTensors Tensors => _pass.Tensors;

    /// <summary>
    /// Prepares this rank's backward pass over its tensors (after a forward: O and LSE are read) in the same session,
    /// so the backward reuses the forward's receive buffers.
    /// </summary>
    public BackwardPass BeginBackward(RankGradients gradients) => _session.BeginBackward(_options, _layout, _pass.Tensors, gradients);

    /// <inheritdoc />
    public void Start() => _pass.Start();

    /// <inheritdoc />
    public void PostExchange(int step) => _pass.PostExchange(step);

    /// <inheritdoc />
    public void Compute(int step) => _pass.Compute(step);

    /// <inheritdoc />
    public void CompleteExchange(int step) => _pass.CompleteExchange(step);

    /// <inheritdoc />
    public RankReport Finish() => _pass.Finish();

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();
}
