using System.Runtime.InteropServices;

namespace RingAttention.Cpu;

/// <summary>
/// The packed K/V panels of one (batch, KV head) block, filled lazily: the first worker that needs a key tile
/// claims it with one compare-and-swap and packs it; a worker that finds its tile being packed by another packs a
/// later unclaimed tile meanwhile. Packing thus spreads over the threads without a barrier between packing and
/// compute, and a tile no query row can see is never packed. Two layouts (see <see cref="Panels"/>): row-major
/// panels, where fp32 V whose head dimension is a whole number of vectors is read in place (its rows are already
/// what the P·V product streams), so only Kᵀ is packed; and blocked panels (a panel width given), where both are
/// packed into contiguous column panels.
/// </summary>
internal sealed unsafe class KeyValuePanels : IDisposable
{
    private const int Unpacked = 0, Packing = 1, Packed = 2;

    /// <summary>How far past a busy tile a waiting worker looks for a tile to pack.</summary>
    private const int HelpAhead = 4;

    private float* _keys;
    private float* _values;
    private long _keyCapacity, _valueCapacity;
    private int[] _state = [];
    private int _tiles;
    private ElementType _type;
    private byte* _key, _value;
    private long _keyRowStride, _valueRowStride;
    private int _keyCount, _headDim;

    /// <summary>Elements of the padded head dimension: a row of a V panel (and of the accumulator the P·V product writes).</summary>
    public int PaddedHeadDim { get; private set; }

    /// <summary>Columns of one blocked column panel, or 0 for the row-major layout.</summary>
    public int PanelWidth { get; private set; }

    /// <summary>Whether V is read in place (<see cref="ValueTile"/> points into the source) rather than from a panel.</summary>
    public bool ValueInPlace { get; private set; }

    /// <summary>
    /// Floats of the Kᵀ and V panels for a block of <paramref name="keys"/> keys of one batch entry and KV head: what
    /// the kernel holds (per device, not per rank) for the largest block it is handed. <paramref name="panelWidth"/>:
    /// as in <see cref="Prepare"/>.
    /// </summary>
    public static (long Keys, long Values) Floats(ElementType type, int keys, int headDim, int vectorWidth, int panelWidth)
    {
        long paddedKeys = (keys + (long)CpuFlashKernel.BlockN - 1) / CpuFlashKernel.BlockN * CpuFlashKernel.BlockN;
        int paddedHeadDim = PaddedDim(headDim, vectorWidth, panelWidth);
        return (paddedKeys * headDim, ReadsValueInPlace(type, headDim, paddedHeadDim, panelWidth) ? 0 : paddedKeys * paddedHeadDim);
    }

    private static int PaddedDim(int headDim, int vectorWidth, int panelWidth)
    {
        int multiple = panelWidth > 0 ? panelWidth : vectorWidth;
        return (headDim + multiple - 1) / multiple * multiple;
    }

    private static bool ReadsValueInPlace(ElementType type, int headDim, int paddedHeadDim, int panelWidth) =>
        panelWidth == 0 && type == ElementType.Float32 && paddedHeadDim == headDim;

    /// <summary>
    /// Points the panels at a new block (all tiles unpacked): <paramref name="key"/> and <paramref name="value"/>
    /// at row 0 of one batch entry and KV head, rows the given strides (in elements) apart. <paramref name="panelWidth"/>:
    /// 0 for row-major panels (the head dimension padded to the vector width), else the columns of one blocked
    /// column panel (the head dimension padded to a multiple of it).
    /// </summary>
    public void Prepare(ElementType type, byte* key, long keyRowStride, byte* value, long valueRowStride, int keyCount, int keysUsed,
        int headDim, int vectorWidth, int panelWidth)
    {
        _type = type;
        _key = key;
        _keyRowStride = keyRowStride;
        _value = value;
        _valueRowStride = valueRowStride;
        _keyCount = keyCount;
        _headDim = headDim;
        PanelWidth = panelWidth;
        PaddedHeadDim = PaddedDim(headDim, vectorWidth, panelWidth);
        ValueInPlace = ReadsValueInPlace(type, headDim, PaddedHeadDim, panelWidth);
        _tiles = (keysUsed + CpuFlashKernel.BlockN - 1) / CpuFlashKernel.BlockN;
        var (keyFloats, valueFloats) = Floats(type, keysUsed, headDim, vectorWidth, panelWidth);
        Grow(ref _keys, ref _keyCapacity, keyFloats);
        Grow(ref _values, ref _valueCapacity, valueFloats);
        if (_state.Length < _tiles)
        {
            _state = new int[Math.Max(_tiles, 2 * _state.Length)];
        }
        Array.Clear(_state, 0, _tiles);
    }

    /// <summary>Kᵀ of key tile <paramref name="tile"/>: [headDim][BlockN], or blocked [BlockN / PanelWidth][headDim][PanelWidth].</summary>
    public float* KeyTile(int tile) => _keys + (long)tile * CpuFlashKernel.BlockN * _headDim;

    /// <summary>
    /// V rows of key tile <paramref name="tile"/>: the panel ([BlockN][PaddedHeadDim], or blocked
    /// [PaddedHeadDim / PanelWidth][BlockN][PanelWidth]), or the source rows when V is read in place.
    /// </summary>
    public float* ValueTile(int tile) => ValueInPlace
        ? (float*)_value + (long)tile * CpuFlashKernel.BlockN * _valueRowStride
        : _values + (long)tile * CpuFlashKernel.BlockN * PaddedHeadDim;

    /// <summary>Elements between rows of <see cref="ValueTile"/> (row-major layout).</summary>
    public nint ValueStride => ValueInPlace ? (nint)_valueRowStride : PaddedHeadDim;

    /// <summary>Floats between consecutive column panels of a blocked Kᵀ tile.</summary>
    public nint KeyPanelStride => (nint)_headDim * PanelWidth;

    /// <summary>Floats between consecutive column panels of a blocked V tile.</summary>
    public nint ValuePanelStride => (nint)CpuFlashKernel.BlockN * PanelWidth;

    /// <summary>Returns once tile <paramref name="tile"/> is packed, packing it (or others while it waits) itself.</summary>
    public void Ensure(int tile, float* staging)
    {
        ref int state = ref _state[tile];
        if (Volatile.Read(ref state) == Packed)
        {
            return;
        }
        var spin = new SpinWait();
        while (true)
        {
            if (TryPack(tile, staging) || Volatile.Read(ref state) == Packed)
            {
                return;
            }
            bool helped = false;
            for (int other = tile + 1; other < Math.Min(_tiles, tile + 1 + HelpAhead) && !helped; other++)
            {
                helped = TryPack(other, staging);
            }
            if (!helped)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }
        }
    }

    private bool TryPack(int tile, float* staging)
    {
        if (Interlocked.CompareExchange(ref _state[tile], Packing, Unpacked) != Unpacked)
        {
            return false;
        }
        if (PanelWidth > 0)
        {
            Panels.PackTileBlocked(_type, _key, _keyRowStride, _value, _valueRowStride, _keyCount, _headDim, PaddedHeadDim, PanelWidth,
                tile * CpuFlashKernel.BlockN, KeyTile(tile), ValueTile(tile), staging);
        }
        else
        {
            Panels.PackTile(_type, _key, _keyRowStride, _value, _valueRowStride, _keyCount, _headDim, PaddedHeadDim, tile * CpuFlashKernel.BlockN,
                KeyTile(tile), ValueInPlace ? null : _values + (long)tile * CpuFlashKernel.BlockN * PaddedHeadDim, staging);
        }
        Volatile.Write(ref _state[tile], Packed);
        return true;
    }

    private static void Grow(ref float* pointer, ref long capacity, long floats)
    {
        if (floats <= capacity)
        {
            return;
        }
        NativeMemory.AlignedFree(pointer);
        pointer = (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);
        capacity = floats;
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(_keys);
        NativeMemory.AlignedFree(_values);
        _keys = _values = null;
        _keyCapacity = _valueCapacity = 0;
    }
}
