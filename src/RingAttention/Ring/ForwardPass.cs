using System.Diagnostics;
using RingAttention.Kernels;
using RingAttention.Layouts;

namespace RingAttention.Ring;

/// <summary>
/// One rank's forward pass over its session's workspace: at each step the exchange of the next K/V block is posted,
/// the block in hand is computed, then the exchange is awaited. The local K/V is sent from where it lies; two
/// receive buffers alternate, so a block is never overwritten while it is being sent or computed. The kernel
/// continues one fp32 running state (unnormalised O, row max, row sum) across all steps, and <see cref="Finish"/>
/// turns it into O and LSE once. Every span is timed with the backend's clock and read after the backend
/// synchronised, the same way on every backend.
/// </summary>
public sealed class ForwardPass : IRingPass
{
    private readonly AttentionOptions _options;
    private readonly ISequenceLayout _layout;
    private readonly IRingTransport _transport;
    private readonly IAttentionBackend _backend;
    private readonly RankTensors _tensors;
    private readonly BackendBuffer[] _receive;
    private readonly long _receiveTensorBytes;
    private readonly BackendBuffer _accumulator;
    private readonly BackendBuffer _rowMax;
    private readonly BackendBuffer _rowSum;
    private readonly long _bytesHeld;
    private readonly int _elementSize;
    private readonly List<StepMarks> _steps = new();
    private RingMessage _current;
    private int _currentSource;
    private PendingStep _pending;
    private int _kernelCalls;
    private int _exchangesPosted;

    internal ForwardPass(RankSession session, RankWorkspace workspace, AttentionOptions options, ISequenceLayout layout, RankTensors tensors)
    {
        options.Validate();
        var transport = session.Transport;
        Guard.That(transport.Size == layout.Ranks, nameof(transport), $"a ring of {layout.Ranks} ranks (the layout's P)", $"{transport.Size} ranks");
        Guard.That(tensors.LocalLength == layout.LocalLength(transport.Rank), nameof(tensors),
            $"{layout.LocalLength(transport.Rank)} rows (rank {transport.Rank} of {layout})", $"{tensors.LocalLength} rows");
        (_options, _layout, _transport, _backend, _tensors) = (options, layout, transport, session.Backend, tensors);
        _elementSize = ElementTypes.SizeOf(options.ElementType);

        int largestBlock = Enumerable.Range(0, layout.Ranks).Max(layout.LocalLength);
        _receiveTensorBytes = TensorBytes(largestBlock);
        _receive = layout.Ranks > 1 ? [workspace.Receive(0, 2 * _receiveTensorBytes), workspace.Receive(1, 2 * _receiveTensorBytes)] : [];
        long accumulatorFloats = (long)options.Batch * LocalLength * options.QueryRowElements;
        // An fp32 O doubles as the accumulator; 16-bit outputs need their own fp32 state.
        _accumulator = options.ElementType == ElementType.Float32 ? tensors.O : workspace.Accumulator(accumulatorFloats * sizeof(float));
        long statFloats = (long)options.Batch * options.Heads * LocalLength;
        _rowMax = workspace.RowMax(statFloats * sizeof(float));
        _rowSum = workspace.RowSum(statFloats * sizeof(float));
        _bytesHeld = tensors.Bytes + workspace.StateBytes;
    }

    /// <summary>This rank.</summary>
    public int Rank => _transport.Rank;

    /// <inheritdoc />
    public int Steps => _layout.Ranks;

    /// <summary>Rows this rank holds.</summary>
    public int LocalLength => _tensors.LocalLength;

    /// <summary>The rank's tensors (O and LSE are valid after <see cref="Finish"/>).</summary>
    public RankTensors Tensors => _tensors;

    /// <summary>Bytes of one of K or V (each the same size) for a block of <paramref name="rows"/> rows.</summary>
    private long TensorBytes(int rows) => (long)_options.Batch * rows * _options.KeyRowElements * _elementSize;

    /// <summary>The K/V message of a block of <paramref name="rows"/> rows: K at <paramref name="key"/>, V at <paramref name="value"/>.</summary>
    private RingMessage KvMessage(nint key, nint value, int rows) => new(new Region(key, TensorBytes(rows)), new Region(value, TensorBytes(rows)));

    private RingMessage ReceiveMessage(int step, int rows)
    {
        var buffer = _receive[step % 2];
        return KvMessage(buffer.Address, buffer.Address + (nint)_receiveTensorBytes, rows);
    }

    /// <inheritdoc />
    public void Start()
    {
        DisposeMarks();
        _kernelCalls = 0;
        _exchangesPosted = 0;
        long accumulatorFloats = (long)_options.Batch * LocalLength * _options.QueryRowElements;
        long statFloats = (long)_options.Batch * _options.Heads * LocalLength;
        _backend.Fill(_accumulator, 0, accumulatorFloats, 0f);
        _backend.Fill(_rowMax, 0, statFloats, float.NegativeInfinity);
        _backend.Fill(_rowSum, 0, statFloats, 0f);
        _current = KvMessage(_tensors.K.Address, _tensors.V.Address, LocalLength);
        _currentSource = Rank;
    }

    /// <inheritdoc />
    public void PostExchange(int step)
    {
        _pending = default;
        if (step >= _layout.Ranks - 1)
        {
            return;
        }
        // An empty block (its source holds no rows, N < P) travels nowhere: sender and receiver both know it from the
        // layout, so each leaves that link unused, and a rank whose links are both unused posts nothing. That keeps
        // P >> N at O(min(N, P) · P) exchanges instead of P².
        int outgoingRows = _layout.LocalLength(_currentSource);
        int incomingRows = _layout.LocalLength(RingSchedule.SourceRank(Rank, step + 1, _layout.Ranks));
        if (outgoingRows == 0 && incomingRows == 0)
        {
            return;
        }
        var send = outgoingRows > 0 ? _current : default;
        var receive = incomingRows > 0 ? ReceiveMessage(step, incomingRows) : default;
        var clock = _backend.Clock;
        var postStart = clock.Mark();
        var exchange = _transport.PostExchange(ExchangeId.ForStep(step), send, receive);
        _exchangesPosted++;
        _pending = new PendingStep(exchange, send.Bytes, postStart, clock.Mark());
    }

    /// <inheritdoc />
    public void Compute(int step)
    {
        int source = RingSchedule.SourceRank(Rank, step, _layout.Ranks);
        Debug.Assert(source == _currentSource, "the block in hand must come from the scheduled source rank");
        if (LocalLength == 0 || _layout.LocalLength(source) == 0)
        {
            // No query rows or no keys: no kernel and no clock marks, only the step's (possibly relayed) exchange.
            _steps.Add(new StepMarks(null, null) { Pending = _pending });
            return;
        }
        var start = _backend.Clock.Mark();
        var operands = new ForwardOperands(_tensors.Q.Address, LocalLength, _current[0].Address, _current[1].Address, _layout.LocalLength(source),
            _accumulator.Address, _rowMax.Address, _rowSum.Address);
        foreach (var pair in RingSchedule.Pairs(_layout, Rank, step, _options.Causal))
        {
            _backend.Forward(FlashForwardParams.ForBlock(_options, operands, pair));
            _kernelCalls++;
        }
        _steps.Add(new StepMarks(start, _backend.Clock.Mark()) { Pending = _pending });
    }

    /// <inheritdoc />
    public void CompleteExchange(int step)
    {
        if (step >= _layout.Ranks - 1)
        {
            return;
        }
        if (_pending.Exchange is { } exchange)
        {
            var waitStart = _backend.Clock.Mark();
            exchange.Wait();
            _steps[^1] = _steps[^1] with { WaitStart = waitStart, WaitEnd = _backend.Clock.Mark() };
        }
        _currentSource = RingSchedule.SourceRank(Rank, step + 1, _layout.Ranks);
        _current = ReceiveMessage(step, _layout.LocalLength(_currentSource));
        _pending = default;
    }

    /// <inheritdoc />
    public RankReport Finish()
    {
        var args = new FlashFinalizeParams
        {
            OAccum = _accumulator.Address,
            RowMax = _rowMax.Address,
            RowSum = _rowSum.Address,
            O = _tensors.O.Address,
            Lse = _tensors.Lse.Address,
            Batch = _options.Batch,
            Heads = _options.Heads,
            HeadDim = _options.HeadDim,
            SeqLenQ = LocalLength,
            ElementType = (int)_options.ElementType,
        };
        using var finishStart = _backend.Clock.Mark();
        _backend.FinishRows(args);
        using var finishEnd = _backend.Clock.Mark();
        _backend.Synchronize();
        var steps = _steps.Select(marks => marks.Timing()).ToArray();
        DisposeMarks();
        return new RankReport
        {
            Rank = Rank,
            LocalLength = LocalLength,
            Steps = steps,
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
