using RingAttention.Kernels;
using RingAttention.Layouts;

namespace RingAttention.Ring;

/// <summary>
/// One rank's backward pass over its session's workspace. The preprocess runs once (D = rowsum(dO ∘ O) in fp32, the
/// fp32 dQ accumulator zeroed); then K/V blocks travel the ring as in the forward, and every block's fp32 dK/dV
/// accumulator travels one step behind its K/V in the same message: at step s a rank sends the K/V in hand together
/// with the dK/dV sum of the block it finished at step s − 1, and receives the next K/V with the sum of the earlier
/// ranks' contributions to the block it computes now. It computes its own contribution to that block into a zeroed
/// fp32 buffer (the sum is still on its way, so the kernel cannot add to it), and adds the sum once the exchange
/// has completed; the total travels on at the next step. After the P compute steps one more hop takes each finished
/// block home, where dK and dV are cast to the storage type once, as is dQ. P is recomputed from the final LSE in
/// every kernel call. Two K/V receive buffers and two dK/dV accumulators alternate, so nothing is overwritten while
/// it is sent or computed; exchanges are posted before compute and awaited after (one packed message per hop, on
/// channel <see cref="Channel"/>).
/// </summary>
public sealed class BackwardPass : IRingPass
{
    /// <summary>The exchange channel of the backward's messages (the forward uses 0).</summary>
    public const int Channel = 1;

    private readonly AttentionOptions _options;
    private readonly ISequenceLayout _layout;
    private readonly IRingTransport _transport;
    private readonly IAttentionBackend _backend;
    private readonly RankTensors _tensors;
    private readonly RankGradients _gradients;
    private readonly BackendBuffer[] _receive;
    private readonly BackendBuffer[] _keyValueGrads;
    private readonly BackendBuffer? _keyValueGradsReceived;
    private readonly BackendBuffer _dSum;
    private readonly BackendBuffer _queryGrad;
    private readonly long _receiveTensorBytes;
    private readonly long _gradTensorBytes;
    private readonly long _bytesHeld;
    private readonly int _elementSize;
    private readonly List<StepMarks> _steps = new();
    private RingMessage _current;
    private int _currentSource;
    private PendingStep _pending;
    private double _preprocessSeconds;
    private int _kernelCalls;
    private int _exchangesPosted;

    internal BackwardPass(RankSession session, RankWorkspace workspace, AttentionOptions options, ISequenceLayout layout, RankTensors tensors,
        RankGradients gradients)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(gradients);
        options.Validate();
        var transport = session.Transport;
        Guard.That(transport.Size == layout.Ranks, nameof(transport), $"a ring of {layout.Ranks} ranks (the layout's P)", $"{transport.Size} ranks");
        int local = layout.LocalLength(transport.Rank);
        Guard.That(tensors.LocalLength == local, nameof(tensors), $"{local} rows (rank {transport.Rank} of {layout})", $"{tensors.LocalLength} rows");
        Guard.That(gradients.LocalLength == local, nameof(gradients), $"{local} rows (rank {transport.Rank} of {layout})", $"{gradients.LocalLength} rows");
        (_options, _layout, _transport, _backend, _tensors, _gradients) = (options, layout, transport, session.Backend, tensors, gradients);
        _elementSize = ElementTypes.SizeOf(options.ElementType);

        int largestBlock = Enumerable.Range(0, layout.Ranks).Max(layout.LocalLength);
        _receiveTensorBytes = KeyValueBytes(largestBlock);
        _gradTensorBytes = GradBytes(largestBlock);
        bool ring = layout.Ranks > 1;
        _receive = ring ? [workspace.Receive(0, 2 * _receiveTensorBytes), workspace.Receive(1, 2 * _receiveTensorBytes)] : [];
        _keyValueGrads = ring
            ? [workspace.KeyValueGrads(0, 2 * _gradTensorBytes), workspace.KeyValueGrads(1, 2 * _gradTensorBytes)]
            : [workspace.KeyValueGrads(0, 2 * _gradTensorBytes)];
        _keyValueGradsReceived = ring ? workspace.KeyValueGradsReceived(2 * _gradTensorBytes) : null;
        long statFloats = (long)options.Batch * options.Heads * local;
        _dSum = workspace.DSum(Math.Max(1, statFloats) * sizeof(float));
        long queryFloats = (long)options.Batch * local * options.QueryRowElements;
        // An fp32 dQ doubles as its accumulator; 16-bit gradients need their own fp32 one.
        _queryGrad = options.ElementType == ElementType.Float32 ? gradients.DQ : workspace.QueryGrad(Math.Max(1, queryFloats) * sizeof(float));
        _bytesHeld = tensors.Bytes + gradients.Bytes + workspace.StateBytes;
    }

    /// <summary>This rank.</summary>
    public int Rank => _transport.Rank;

    /// <summary>
    /// The ring's P compute steps, plus the hop that takes every finished dK/dV home (no such hop for P = 1).
    /// </summary>
    public int Steps => _layout.Ranks == 1 ? 1 : _layout.Ranks + 1;

    /// <summary>Rows this rank holds.</summary>
    public int LocalLength => _tensors.LocalLength;

    /// <summary>The rank's gradient tensors (dQ, dK and dV are valid after <see cref="Finish"/>).</summary>
    public RankGradients Gradients => _gradients;

    private int Ranks => _layout.Ranks;

    /// <summary>The rank whose block this rank holds at <paramref name="step"/> (at step P, after the return hop: its own).</summary>
    private int Source(int step) => RingSchedule.SourceRank(Rank, step, Ranks);

    private int Rows(int rank) => _layout.LocalLength(rank);

    /// <summary>Bytes of one of K or V for a block of <paramref name="rows"/> rows.</summary>
    private long KeyValueBytes(int rows) => (long)_options.Batch * rows * _options.KeyRowElements * _elementSize;

    /// <summary>Bytes of one of the fp32 dK or dV accumulators for a block of <paramref name="rows"/> rows.</summary>
    private long GradBytes(int rows) => (long)_options.Batch * rows * _options.KeyRowElements * sizeof(float);

    /// <summary>A K/V receive buffer: K at its start, V after the largest block's K.</summary>
    private (Region K, Region V) KeyValueRegions(BackendBuffer buffer, int rows) =>
        (new Region(buffer.Address, KeyValueBytes(rows)), new Region(buffer.Address + (nint)_receiveTensorBytes, KeyValueBytes(rows)));

    /// <summary>A dK/dV accumulator: dK at its start, dV after the largest block's dK.</summary>
    private (Region DK, Region DV) GradRegions(BackendBuffer buffer, int rows) =>
        (new Region(buffer.Address, GradBytes(rows)), new Region(buffer.Address + (nint)_gradTensorBytes, GradBytes(rows)));

    /// <inheritdoc />
    public void Start()
    {
        DisposeMarks();
        _kernelCalls = 0;
        _exchangesPosted = 0;
        _preprocessSeconds = 0;
        _current = new RingMessage(new Region(_tensors.K.Address, KeyValueBytes(LocalLength)), new Region(_tensors.V.Address, KeyValueBytes(LocalLength)));
        _currentSource = Rank;
        if (LocalLength > 0)
        {
            using var start = _backend.Clock.Mark();
            _backend.BackwardPreprocess(FlashBackwardParams.ForPreprocess(_options, Operands(0, 0, 0)));
            using var end = _backend.Clock.Mark();
            _backend.Synchronize();
            _preprocessSeconds = end.SecondsSince(start);
        }
    }

    /// <summary>The kernel operands: this rank's query side against the key block in hand and its dK/dV accumulator.</summary>
    private BackwardOperands Operands(int keyRows, nint dKAccum, nint dVAccum) => new(
        _tensors.Q.Address, _tensors.O.Address, _gradients.DO.Address, _tensors.Lse.Address, _dSum.Address, _queryGrad.Address, LocalLength,
        keyRows == 0 ? 0 : _current[0].Address, keyRows == 0 ? 0 : _current[1].Address, dKAccum, dVAccum, keyRows);

    /// <inheritdoc />
    public void PostExchange(int step)
    {
        _pending = default;
        if (Ranks == 1)
        {
            return;
        }
        // Both sides derive the message from the layout, so they list the same regions: the K/V in hand (steps
        // before P − 1) and the dK/dV sum of the block finished at the previous step (from step 1 on). An empty block
        // adds no region; a link whose message is empty both ways is left unused.
        var send = new List<Region>(4);
        var receive = new List<Region>(4);
        if (step < Ranks - 1)
        {
            if (Rows(Source(step)) > 0)
            {
                send.Add(_current[0]);
                send.Add(_current[1]);
            }
            int incoming = Rows(Source(step + 1));
            if (incoming > 0)
            {
                var (k, v) = KeyValueRegions(_receive[step % 2], incoming);
                receive.Add(k);
                receive.Add(v);
            }
        }
        if (step >= 1)
        {
            int finished = Rows(Source(step - 1));
            if (finished > 0)
            {
                var (dK, dV) = GradRegions(_keyValueGrads[(step - 1) % 2], finished);
                send.Add(dK);
                send.Add(dV);
            }
            int arriving = Rows(Source(step));
            if (arriving > 0)
            {
                var (dK, dV) = GradRegions(_keyValueGradsReceived!, arriving);
                receive.Add(dK);
                receive.Add(dV);
            }
        }
        if (send.Count == 0 && receive.Count == 0)
        {
            return;
        }
        var sendMessage = send.Count > 0 ? new RingMessage([.. send]) : default;
        var receiveMessage = receive.Count > 0 ? new RingMessage([.. receive]) : default;
        var clock = _backend.Clock;
        var postStart = clock.Mark();
        var exchange = _transport.PostExchange(new ExchangeId(Channel, step), sendMessage, receiveMessage);
        _exchangesPosted++;
        _pending = new PendingStep(exchange, sendMessage.Bytes, postStart, clock.Mark());
    }

    /// <inheritdoc />
    public void Compute(int step)
    {
        int keyRows = step < Ranks ? Rows(Source(step)) : 0;
        if (keyRows == 0)
        {
            // The return hop, or an empty block: only the step's exchange.
            _steps.Add(new StepMarks(null, null) { Pending = _pending });
            return;
        }
        var start = _backend.Clock.Mark();
        var grads = _keyValueGrads[step % 2];
        var (dK, dV) = GradRegions(grads, keyRows);
        _backend.Fill(grads, 0, dK.Bytes / sizeof(float), 0f);
        _backend.Fill(grads, _gradTensorBytes, dV.Bytes / sizeof(float), 0f);
        if (LocalLength > 0)
        {
            var operands = Operands(keyRows, dK.Address, dV.Address);
            foreach (var pair in RingSchedule.Pairs(_layout, Rank, step, _options.Causal))
            {
                _backend.Backward(FlashBackwardParams.ForBlock(_options, operands, pair));
                _kernelCalls++;
            }
        }
        _steps.Add(new StepMarks(start, _backend.Clock.Mark()) { Pending = _pending });
    }

    /// <inheritdoc />
    public void CompleteExchange(int step)
    {
        if (Ranks == 1)
        {
            return;
        }
        if (_pending.Exchange is { } exchange)
        {
            var waitStart = _backend.Clock.Mark();
            exchange.Wait();
            _steps[^1] = _steps[^1] with { WaitStart = waitStart, WaitEnd = _backend.Clock.Mark() };
        }
        _pending = default;
        if (step < Ranks - 1)
        {
            _currentSource = Source(step + 1);
            var (k, v) = KeyValueRegions(_receive[step % 2], Rows(_currentSource));
            _current = new RingMessage(k, v);
        }
        int rows = Rows(Source(step));
        if (step >= 1 && step < Ranks && rows > 0)
        {
            // The earlier ranks' sum for the block computed now has arrived: add it to this rank's contribution.
            var (dK, dV) = GradRegions(_keyValueGrads[step % 2], rows);
            var (sumK, sumV) = GradRegions(_keyValueGradsReceived!, rows);
            _backend.AddFloats(dK.Address, sumK.Address, dK.Bytes / sizeof(float));
            _backend.AddFloats(dV.Address, sumV.Address, dV.Bytes / sizeof(float));
        }
    }

    /// <inheritdoc />
    public RankReport Finish()
    {
        using var finishStart = _backend.Clock.Mark();
        if (LocalLength > 0)
        {
            var type = _options.ElementType;
            long queryFloats = (long)_options.Batch * LocalLength * _options.QueryRowElements;
            long keyFloats = (long)_options.Batch * LocalLength * _options.KeyRowElements;
            _backend.Narrow(_queryGrad.Address, _gradients.DQ.Address, queryFloats, type);
            // The own block's total: computed here when P = 1, otherwise brought home by the last hop.
            var (dK, dV) = GradRegions(Ranks == 1 ? _keyValueGrads[0] : _keyValueGradsReceived!, LocalLength);
            _backend.Narrow(dK.Address, _gradients.DK.Address, keyFloats, type);
            _backend.Narrow(dV.Address, _gradients.DV.Address, keyFloats, type);
        }
        using var finishEnd = _backend.Clock.Mark();
        _backend.Synchronize();
        var steps = _steps.Select(marks => marks.Timing()).ToArray();
        DisposeMarks();
        return new RankReport
        {
            Rank = Rank,
            LocalLength = LocalLength,
            Steps = steps,
            PrepareSeconds = _preprocessSeconds,
            FinalizeSeconds = finishEnd.SecondsSince(finishStart),
            BytesHeld = _bytesHeld,
            KernelCalls = _kernelCalls,
            ExchangesPosted = _exchangesPosted,
        };
    }

    private void DisposeMarks()
    {
        foreach (var marks in _steps)
        {
            marks.Dispose();
        }
        _steps.Clear();
    }
}
