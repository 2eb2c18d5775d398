using System.Diagnostics;
using RingAttention.Kernels;
using RingAttention.Layouts;

namespace RingAttention.Ring;

/// <summary>
/// One rank's forward pass as a state machine the <see cref="RingDriver"/> steps through: at each step the
/// exchange of the next K/V block is posted, the block in hand is computed, then the exchange is awaited. The
/// local K/V is sent from where it lies; two receive buffers alternate, so a block is never overwritten while it
/// is being sent or computed. The kernel continues one fp32 running state (unnormalised O, row max, row sum)
/// across all steps, and <see cref="Finish"/> turns it into O and LSE once.
/// </summary>
public sealed class RingRank : IDisposable
{
    private readonly AttentionOptions _options;
    private readonly ISequenceLayout _layout;
    private readonly IRingTransport _transport;
    private readonly IAttentionBackend _backend;
    private readonly RankTensors _tensors;
    private readonly BackendBuffer[] _receive;
    private readonly BackendBuffer? _separateAccumulator;
    private readonly BackendBuffer _rowMax;
    private readonly BackendBuffer _rowSum;
    private readonly int _elementSize;
    private readonly List<StepTiming> _steps = new();
    private readonly IDeviceTimer? _timer;
    private readonly List<StepMarks> _marks = new();
    private RingMessage _current;
    private int _currentSource;
    private IPendingExchange? _pending;
    private long _pendingBytes;
    private double _postSeconds;
    private long _postedAt;
    private double _finalizeSeconds;
    private int _kernelCalls;

    /// <summary>Prepares rank <see cref="IRingTransport.Rank"/> of the ring over <paramref name="layout"/>.</summary>
    public RingRank(AttentionOptions options, ISequenceLayout layout, IRingTransport transport, IAttentionBackend backend, RankTensors tensors)
    {
        options.Validate();
        Guard.That(transport.Size == layout.Ranks, nameof(transport), $"a ring of {layout.Ranks} ranks (the layout's P)", $"{transport.Size} ranks");
        Guard.That(tensors.LocalLength == layout.LocalLength(transport.Rank), nameof(tensors),
            $"{layout.LocalLength(transport.Rank)} rows (rank {transport.Rank} of {layout})", $"{tensors.LocalLength} rows");
        (_options, _layout, _transport, _backend, _tensors) = (options, layout, transport, backend, tensors);
        _timer = backend as IDeviceTimer;
        _elementSize = ElementTypes.SizeOf(options.ElementType);

        int largestBlock = Enumerable.Range(0, layout.Ranks).Max(layout.LocalLength);
        long blockBytes = TensorBytes(largestBlock);
        _receive = layout.Ranks > 1 ? [backend.Allocate(2 * blockBytes), backend.Allocate(2 * blockBytes)] : [];
        foreach (var buffer in _receive)
        {
            // Touch the pages now: first-touch faults belong to setup, not to the first exchanges' timing.
            backend.Fill(buffer, 0, buffer.Bytes / sizeof(float), 0f);
        }
        long accumulatorFloats = (long)options.Batch * LocalLength * options.QueryRowElements;
        // An fp32 O doubles as the accumulator; 16-bit outputs need their own fp32 state.
        _separateAccumulator = options.ElementType == ElementType.Float32 ? null : backend.Allocate(accumulatorFloats * sizeof(float));
        long statFloats = (long)options.Batch * options.Heads * LocalLength;
        _rowMax = backend.Allocate(statFloats * sizeof(float));
        _rowSum = backend.Allocate(statFloats * sizeof(float));
    }

    /// <summary>This rank.</summary>
    public int Rank => _transport.Rank;

    /// <summary>Ranks in the ring (and steps in a pass).</summary>
    public int RingSize => _layout.Ranks;

    /// <summary>Rows this rank holds.</summary>
    public int LocalLength => _tensors.LocalLength;

    /// <summary>The rank's tensors (O and LSE are valid after <see cref="Finish"/>).</summary>
    public RankTensors Tensors => _tensors;

    private BackendBuffer Accumulator => _separateAccumulator ?? _tensors.O;

    /// <summary>Bytes of one of K or V (each the same size) for a block of <paramref name="rows"/> rows.</summary>
    private long TensorBytes(int rows) => (long)_options.Batch * rows * _options.KeyRowElements * _elementSize;

    /// <summary>The K/V message of a block of <paramref name="rows"/> rows: K at <paramref name="key"/>, V at <paramref name="value"/>.</summary>
    private RingMessage KvMessage(nint key, nint value, int rows) => new(new Region(key, TensorBytes(rows)), new Region(value, TensorBytes(rows)));

    /// <summary>Resets the running state; the first block in hand is the rank's own K/V.</summary>
    public void Start()
    {
        _steps.Clear();
        DisposeMarks();
        _kernelCalls = 0;
        long accumulatorFloats = (long)_options.Batch * LocalLength * _options.QueryRowElements;
        long statFloats = (long)_options.Batch * _options.Heads * LocalLength;
        _backend.Fill(Accumulator, 0, accumulatorFloats, 0f);
        _backend.Fill(_rowMax, 0, statFloats, float.NegativeInfinity);
        _backend.Fill(_rowSum, 0, statFloats, 0f);
        _current = KvMessage(_tensors.K.Address, _tensors.V.Address, LocalLength);
        _currentSource = Rank;
    }

    /// <summary>Posts the exchange that brings the block needed at step <paramref name="step"/> + 1 (none at the last step).</summary>
    public void PostExchange(int step)
    {
        _pending = null;
        _pendingBytes = 0;
        if (step >= _layout.Ranks - 1)
        {
            return;
        }
        int incomingRows = _layout.LocalLength(RingSchedule.SourceRank(Rank, step + 1, _layout.Ranks));
        var buffer = _receive[step % 2];
        var receive = KvMessage(buffer.Address, buffer.Address + (nint)(buffer.Bytes / 2), incomingRows);
        _postedAt = Stopwatch.GetTimestamp();
        _pending = _transport.PostExchange(ExchangeId.ForStep(step), _current, receive);
        _postSeconds = Stopwatch.GetElapsedTime(_postedAt).TotalSeconds;
        _pendingBytes = _current.Bytes;
    }

    /// <summary>Runs the block kernel on every unmasked (query run, key run) pair of the block in hand.</summary>
    public void Compute(int step)
    {
        int source = RingSchedule.SourceRank(Rank, step, _layout.Ranks);
        Debug.Assert(source == _currentSource, "the block in hand must come from the scheduled source rank");
        long start = Stopwatch.GetTimestamp();
        var startMark = _timer?.Mark();
        int sourceRows = _layout.LocalLength(source);
        foreach (var pair in RingSchedule.Pairs(_layout, Rank, step, _options.Causal))
        {
            var args = BlockParams(pair, sourceRows);
            _backend.Forward(args);
            _kernelCalls++;
        }
        _steps.Add(new StepTiming(Stopwatch.GetElapsedTime(start).TotalSeconds, 0, 0));
        if (startMark is not null)
        {
            _marks.Add(new StepMarks(startMark, _timer!.Mark()));
        }
    }

    /// <summary>Waits for the step's exchange; the received block becomes the one in hand.</summary>
    public void CompleteExchange(int step)
    {
        if (_pending is null)
        {
            return;
        }
        long start = Stopwatch.GetTimestamp();
        var waitStart = _timer?.Mark();
        _pending.Wait();
        if (waitStart is not null)
        {
            _marks[^1] = _marks[^1] with { WaitStart = waitStart, WaitEnd = _timer!.Mark(), Exchange = _pending as IDeviceTimedExchange };
        }
        else if (_pending is IDeviceTimedExchange untimed)
        {
            // Without the backend's own marks to compare with, the exchange's marks say nothing.
            untimed.Posted.Dispose();
            untimed.Completed.Dispose();
        }
        // A transport that moves data while posting (the in-process copy) exposes that time just as a wait does.
        _steps[^1] = _steps[^1] with { WaitSeconds = _postSeconds + Stopwatch.GetElapsedTime(start).TotalSeconds, ExchangeBytes = _pendingBytes };
        if (_pending is ITimedExchange timed)
        {
            // Hidden: the part of [post, completion] before the rank began to wait, i.e. spent computing instead.
            long hidden = Math.Max(0, Math.Min(timed.CompletedTimestamp, start) - _postedAt);
            _steps[^1] = _steps[^1] with
            {
                ExchangeSeconds = Stopwatch.GetElapsedTime(_postedAt, timed.CompletedTimestamp).TotalSeconds,
                HiddenSeconds = (double)hidden / Stopwatch.Frequency,
            };
        }
        var buffer = _receive[step % 2];
        _currentSource = RingSchedule.SourceRank(Rank, step + 1, _layout.Ranks);
        _current = KvMessage(buffer.Address, buffer.Address + (nint)(buffer.Bytes / 2), _layout.LocalLength(_currentSource));
        _pending = null;
    }

    /// <summary>Writes O and LSE from the running state and reports the pass.</summary>
    public RankReport Finish()
    {
        long start = Stopwatch.GetTimestamp();
        var args = new FlashFinalizeParams
        {
            OAccum = Accumulator.Address,
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
        using var finalizeStart = _timer?.Mark();
        _backend.Finalize(args);
        using var finalizeEnd = _timer?.Mark();
        _backend.Synchronize();
        _finalizeSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (finalizeStart is not null)
        {
            ReplaceHostTimesWithDeviceTimes();
            _finalizeSeconds = finalizeEnd!.SecondsSince(finalizeStart);
        }
        return new RankReport
        {
            Rank = Rank,
            LocalLength = LocalLength,
            Steps = _steps.ToArray(),
            FinalizeSeconds = _finalizeSeconds,
            BytesHeld = _tensors.Bytes + _receive.Sum(b => b.Bytes) + (_separateAccumulator?.Bytes ?? 0) + _rowMax.Bytes + _rowSum.Bytes,
            KernelCalls = _kernelCalls,
        };
    }

    private FlashForwardParams BlockParams(BlockPair pair, int sourceRows)
    {
        int d = _options.HeadDim, heads = _options.Heads, kvHeads = _options.EffectiveKvHeads;
        long queryRow = (long)heads * d, keyRow = (long)kvHeads * d;
        float scale = _options.EffectiveSoftmaxScale;
        return new FlashForwardParams
        {
            Q = _tensors.Q.Address + (nint)(pair.Query.LocalStart * queryRow * _elementSize),
            K = _current[0].Address + (nint)(pair.Key.LocalStart * keyRow * _elementSize),
            V = _current[1].Address + (nint)(pair.Key.LocalStart * keyRow * _elementSize),
            OAccum = Accumulator.Address + (nint)(pair.Query.LocalStart * queryRow * sizeof(float)),
            RowMax = _rowMax.Address + pair.Query.LocalStart * sizeof(float),
            RowSum = _rowSum.Address + pair.Query.LocalStart * sizeof(float),
            QBatchStride = LocalLength * queryRow,
            QRowStride = queryRow,
            QHeadStride = d,
            KBatchStride = sourceRows * keyRow,
            KRowStride = keyRow,
            KHeadStride = d,
            VBatchStride = sourceRows * keyRow,
            VRowStride = keyRow,
            VHeadStride = d,
            OBatchStride = LocalLength * queryRow,
            ORowStride = queryRow,
            OHeadStride = d,
            StatBatchStride = (long)heads * LocalLength,
            StatHeadStride = LocalLength,
            Batch = _options.Batch,
            Heads = heads,
            KvHeads = kvHeads,
            HeadDim = d,
            SeqLenQ = pair.Query.Count,
            SeqLenK = pair.Key.Count,
            QPosStart = pair.Query.GlobalStart,
            QPosStride = pair.Query.Stride,
            KPosStart = pair.Key.GlobalStart,
            KPosStride = pair.Key.Stride,
            ScaleSoftmax = scale,
            ScaleSoftmaxLog2 = scale * MathF.Log2(MathF.E),
            IsCausal = pair.Masked ? 1 : 0,
            ElementType = (int)_options.ElementType,
        };
    }

    /// <summary>
    /// On an asynchronous backend the host stopwatch measured enqueues: the device's own marks give the compute
    /// time of each step and the time the device stalled on the exchange (marks around the wait's enqueue). An
    /// exchange that marks its own post and completion (<see cref="IDeviceTimedExchange"/>) also gives the
    /// exchange time and its hidden part, both measured from the post: the exchange spans [post, completion], the
    /// rank's kernels stop at the wait, and what of the exchange ran before that was hidden behind them.
    /// </summary>
    private void ReplaceHostTimesWithDeviceTimes()
    {
        for (int i = 0; i < _marks.Count && i < _steps.Count; i++)
        {
            var marks = _marks[i];
            double wait = marks.WaitStart is null ? 0 : marks.WaitEnd!.SecondsSince(marks.WaitStart);
            _steps[i] = _steps[i] with { ComputeSeconds = marks.ComputeEnd.SecondsSince(marks.ComputeStart), WaitSeconds = wait };
            if (marks.Exchange is { } exchange && marks.WaitStart is not null)
            {
                double completed = exchange.Completed.SecondsSince(exchange.Posted);
                double waitStart = marks.WaitStart.SecondsSince(exchange.Posted);
                _steps[i] = _steps[i] with { ExchangeSeconds = completed, HiddenSeconds = Math.Clamp(waitStart, 0, completed) };
            }
        }
        DisposeMarks();
    }

    private void DisposeMarks()
    {
        foreach (var marks in _marks)
        {
            marks.ComputeStart.Dispose();
            marks.ComputeEnd.Dispose();
            marks.WaitStart?.Dispose();
            marks.WaitEnd?.Dispose();
            marks.Exchange?.Posted.Dispose();
            marks.Exchange?.Completed.Dispose();
        }
        _marks.Clear();
    }

    /// <summary>Device marks of one step: around its kernels, around the enqueue of its exchange's wait, and the exchange's own.</summary>
    private readonly record struct StepMarks(IDeviceMark ComputeStart, IDeviceMark ComputeEnd, IDeviceMark? WaitStart = null, IDeviceMark? WaitEnd = null,
        IDeviceTimedExchange? Exchange = null);

    /// <inheritdoc />
    public void Dispose()
    {
        DisposeMarks();
        foreach (var buffer in _receive)
        {
            buffer.Dispose();
        }
        _separateAccumulator?.Dispose();
        _rowMax.Dispose();
        _rowSum.Dispose();
    }
}
