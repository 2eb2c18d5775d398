namespace RingAttention.IO;

/// <summary>The tensor file formats and the checks shared by readers and writers.</summary>
public static class TensorFiles
{
    /// <summary>The format of <paramref name="path"/> from its extension (.npy or .safetensors).</summary>
    public static TensorFileFormat FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".npy" => TensorFileFormat.Npy,
        ".safetensors" => TensorFileFormat.Safetensors,
        var extension => throw new TensorFileException(path, "extension", $"expected .npy or .safetensors, actual '{extension}'"),
    };

    /// <summary>Opens an existing file for reading, turning "not found" and "not allowed" into errors naming the file.</summary>
    public static FileStream OpenRead(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, bufferSize: 1);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new TensorFileException(path, "file", "does not exist", e);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new TensorFileException(path, "file", $"cannot be opened for reading: {e.Message}", e);
        }
    }

    /// <summary>
    /// Checks that a file can be written at <paramref name="path"/> before any work is done: a known extension, an
    /// existing folder, and not a folder itself.
    /// </summary>
    public static void CheckWritableTarget(string path)
    {
        if (Directory.Exists(path))
        {
            throw new TensorFileException(path, "file", "is a folder, expected a file path");
        }
        FormatOf(path);
        string folder = Path.GetDirectoryName(Path.GetFullPath(path)) ?? "";
        if (!Directory.Exists(folder))
        {
            throw new TensorFileException(path, "folder", $"'{folder}' does not exist");
        }
    }
}

