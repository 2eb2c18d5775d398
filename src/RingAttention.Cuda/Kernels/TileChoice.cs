namespace RingAttention.Cuda.Kernels;

/// <summary>
/// One row of the tensor-core tile table (<see cref="KernelSpecs.TensorCoreTiles"/>): the tiles a compiled head dim
/// takes on devices of at least <paramref name="MinArchitecture"/> whose blocks may use the shared memory they need.
/// </summary>
/// <param name="HeadDim">Compiled head dim (64, 128, 192 or 256).</param>
/// <param name="Causal">The causal flag the row is for; null: both.</param>
/// <param name="MinArchitecture">The oldest compute capability (major·10 + minor) the row applies to.</param>
/// <param name="Tiles">The tile shape.</param>
/// <param name="Why">Why these tiles (measured registers and spills where they decided).</param>
public sealed record TileChoice(int HeadDim, bool? Causal, int MinArchitecture, TileShape Tiles, string Why)
{
    /// <summary>Shared memory per block: the Q tile and one K and one V tile of 16-bit elements.</summary>
    public int SharedBytes => (Tiles.BlockM + 2 * Tiles.BlockN) * HeadDim * 2;

    /// <summary>Whether this row serves <paramref name="headDim"/> and <paramref name="causal"/> on <paramref name="device"/>.</summary>
    public bool Serves(int headDim, bool causal, DeviceLimits device) =>
        HeadDim == headDim && (Causal is null || Causal == causal) && device.Architecture >= MinArchitecture && SharedBytes <= device.MaxSharedBytes;
}
