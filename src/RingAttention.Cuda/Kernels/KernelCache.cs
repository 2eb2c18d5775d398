using System.Security.Cryptography;
using System.Text;

namespace RingAttention.Cuda.Kernels;

/// <summary>
/// Compiled kernels on disk, so NVRTC runs once per (sources, defines, architecture, NVRTC version): the key hashes
/// the compiled file and every header, the full option list, the target and the NVRTC version. Files are written
/// to a temporary name and renamed, so concurrent processes (one per GPU) never read a partial image.
/// </summary>
public sealed class KernelCache
{
    /// <summary>Environment variable overriding the cache folder.</summary>
    public const string DirectoryVariable = "RINGATTN_KERNEL_CACHE";

    /// <summary>A cache in <paramref name="directory"/> (default: <see cref="DefaultDirectory"/>).</summary>
    public KernelCache(string? directory = null) => Directory = directory ?? DefaultDirectory();

    /// <summary>The folder holding the images.</summary>
    public string Directory { get; }

    /// <summary>$RINGATTN_KERNEL_CACHE, else $XDG_CACHE_HOME/ringattn/kernels, else ~/.cache/ringattn/kernels.</summary>
    public static string DefaultDirectory()
    {
        string? explicitDirectory = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (!string.IsNullOrWhiteSpace(explicitDirectory))
        {
            return explicitDirectory;
        }
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string root = !string.IsNullOrWhiteSpace(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "ringattn", "kernels");
    }

    /// <summary>The cache key: a hex SHA-256 over sources, headers, options, target and NVRTC version.</summary>
    public static string Key(string source, IReadOnlyDictionary<string, string> headers, IReadOnlyList<string> options, CompileTarget target, (int Major, int Minor) nvrtcVersion)
    {
        var text = new StringBuilder();
        text.Append("ringattn-kernel-v1\n");
        text.Append(source).Append('\0');
        foreach (var (name, content) in headers.OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            text.Append(name).Append('\0').Append(content).Append('\0');
        }
        text.Append(string.Join('\0', options)).Append('\0');
        text.Append(target).Append('\0');
        text.Append($"nvrtc {nvrtcVersion.Major}.{nvrtcVersion.Minor}");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>The key of <paramref name="variant"/> built from the embedded sources.</summary>
    public static string Key(KernelVariant variant, CompileTarget target, (int Major, int Minor) nvrtcVersion) =>
        Key(KernelSources.Get(variant.SourceFile), KernelSources.Headers, KernelCompiler.Options(variant, target, verbose: false), target, nvrtcVersion);

    /// <summary>The file an image with <paramref name="key"/> is stored in.</summary>
    public string PathFor(KernelVariant variant, CompileTarget target, string key) =>
        Path.Combine(Directory, $"{variant.Name}-{target}-{key[..16]}.{(target.Cubin ? "cubin" : "ptx")}");

    /// <summary>The cached image, or null when absent or unreadable.</summary>
    public byte[]? TryRead(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllBytes(path) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Stores an image; a cache that cannot be written only costs a recompilation next time.</summary>
    public bool TryWrite(string path, byte[] image)
    {
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            string temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
            File.WriteAllBytes(temporary, image);
            File.Move(temporary, path, overwrite: true);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The image of <paramref name="variant"/> for <paramref name="target"/>: from the cache, else compiled and stored.</summary>
    public byte[] GetOrCompile(KernelVariant variant, CompileTarget target, (int Major, int Minor) nvrtcVersion)
    {
        string path = PathFor(variant, target, Key(variant, target, nvrtcVersion));
        var cached = TryRead(path);
        if (cached is { Length: > 0 })
        {
            return cached;
        }
        var compiled = KernelCompiler.Compile(variant, target);
        TryWrite(path, compiled.Image);
        return compiled.Image;
    }
}
