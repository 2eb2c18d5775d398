namespace RingAttention.IO;

/// <summary>
/// A tensor file that cannot be used as it is: unreadable, malformed, or not what the job needs. The message names
/// the file and the field (header entry, tensor, shape axis), the expected and the actual value; callers map it to
/// "bad input", never to a crash.
/// </summary>
public sealed class TensorFileException : IOException
{
    /// <summary>A problem with <paramref name="field"/> of the file at <paramref name="path"/>.</summary>
    public TensorFileException(string path, string field, string problem, Exception? inner = null)
        : base($"{path}: {field}: {problem}", inner)
    {
        FilePath = path;
        Field = field;
    }

    /// <summary>The file as the user named it.</summary>
    public string FilePath { get; }

    /// <summary>The part of the file (or of the request) that is wrong, e.g. <c>descr</c>, <c>shape</c>, <c>data</c>.</summary>
    public string Field { get; }
}
