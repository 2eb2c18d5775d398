using System.Runtime.ExceptionServices;
using Microsoft.Win32.SafeHandles;

namespace RingAttention.IO;

/// <summary>
/// All-or-nothing output files written by every rank of a job, possibly from several processes. Each target is
/// written as a temporary file in its own folder, under a name every process derives from the target path alone;
/// the process hosting rank 0 creates it at full size with its header, every process writes its ranks' rows into
/// it, and once all processes report success the temporary file is renamed over the target (an atomic replace).
/// Any failure, on any process, removes the temporary files and leaves whatever was at the targets untouched.
/// Every process makes exactly three calls to the agreement function whatever happens, so a collective
/// implementation (an MPI allreduce) never waits on a process that gave up.
/// </summary>
public static class ShardedOutputFiles
{
    /// <summary>The temporary file that becomes <paramref name="target"/>: hidden, beside it, the same name on every process.</summary>
    public static string TemporaryPath(string target)
    {
        string full = Path.GetFullPath(target);
        return Path.Combine(Path.GetDirectoryName(full) ?? ".", "." + Path.GetFileName(full) + ".ringattn-partial");
    }

    /// <summary>
    /// Writes <paramref name="outputs"/>: <paramref name="writeShards"/> writes this process's ranks' rows;
    /// <paramref name="createsFiles"/> is true on exactly one process (the one hosting rank 0), which creates and
    /// renames the files; <paramref name="allSucceeded"/> returns true on every process when its argument was true
    /// on every process (a logical-and allreduce; the identity for a single process).
    /// </summary>
    public static void Write(IReadOnlyList<OutputTensor> outputs, bool createsFiles, Func<bool, bool> allSucceeded, Action<ShardWriter> writeShards)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        var targets = outputs.Select(o => Path.GetFullPath(o.Path)).ToArray();
        if (targets.Distinct(StringComparer.Ordinal).Count() != targets.Length)
        {
            throw new ArgumentException($"{nameof(outputs)}: expected distinct paths, actual {string.Join(", ", outputs.Select(o => o.Path))}.", nameof(outputs));
        }
        var temporary = outputs.Select(o => TemporaryPath(o.Path)).ToArray();
        var headers = new byte[outputs.Count][];

        Agree(allSucceeded, temporary, createsFiles, "creating", () =>
        {
            if (createsFiles)
            {
                for (int i = 0; i < outputs.Count; i++)
                {
                    TensorFiles.CheckWritableTarget(outputs[i].Path);
                    headers[i] = outputs[i].EncodeHeader();
                    Create(temporary[i], headers[i], headers[i].Length + outputs[i].DataBytes);
                }
            }
        });

        Agree(allSucceeded, temporary, createsFiles, "writing", () =>
        {
            var handles = new List<SafeFileHandle>();
            try
            {
                for (int i = 0; i < outputs.Count; i++)
                {
                    handles.Add(File.OpenHandle(temporary[i], FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete));
                }
                var offsets = outputs.Select((o, i) => headers[i]?.Length ?? (long)o.EncodeHeader().Length).ToArray();
                writeShards(new ShardWriter(outputs, handles.ToArray(), offsets));
                // Rows must be on disk before the rename makes the file visible under its real name.
                foreach (var handle in handles)
                {
                    RandomAccess.FlushToDisk(handle);
                }
            }
            finally
            {
                handles.ForEach(h => h.Dispose());
            }
        });

        Agree(allSucceeded, temporary, createsFiles, "renaming", () =>
        {
            if (createsFiles)
            {
                for (int i = 0; i < outputs.Count; i++)
                {
                    File.Move(temporary[i], targets[i], overwrite: true);
                }
            }
        });
    }

    /// <summary>Runs one phase, then agrees with every process on whether it succeeded everywhere; if not, cleans up and throws.</summary>
    private static void Agree(Func<bool, bool> allSucceeded, string[] temporary, bool createsFiles, string phase, Action work)
    {
        ExceptionDispatchInfo? failure = null;
        try
        {
            work();
        }
        catch (Exception e)
        {
            failure = ExceptionDispatchInfo.Capture(e);
        }
        if (allSucceeded(failure is null))
        {
            return;
        }
        if (createsFiles)
        {
            foreach (var path in temporary)
            {
                TryDelete(path);
            }
        }
        failure?.Throw();
        throw new IOException($"output files not written: another process failed while {phase} them; files already at the targets are untouched");
    }

    private static void Create(string path, byte[] header, long totalBytes)
    {
        // Reserving the blocks now turns a full disk into an error here rather than a failed write of some rank's rows.
        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, FileOptions.None, totalBytes);
        RandomAccess.SetLength(handle, totalBytes);
        RandomAccess.Write(handle, header, 0);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Cleanup must not hide the failure that caused it.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
