namespace RingAttention.IO;

/// <summary>Tensor file formats.</summary>
public enum TensorFileFormat
{
    /// <summary>NumPy .npy: one tensor per file.</summary>
    Npy,
    /// <summary>safetensors: several named tensors per file.</summary>
    Safetensors,
}
