namespace RingAttention.Ring;

/// <summary>
/// A run of bytes in the memory a transport moves (host memory for the in-process and MPI rings, device memory for
/// the GPU rings). Regions of one message may differ in size and element type: the transport moves bytes.
/// </summary>
/// <param name="Address">Address of the first byte.</param>
/// <param name="Bytes">Length in bytes (zero for a rank that holds no rows).</param>
public readonly record struct Region(nint Address, long Bytes);
