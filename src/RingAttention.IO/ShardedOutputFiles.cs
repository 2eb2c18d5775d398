using System.Runtime.ExceptionServices;
using Microsoft.Win32.SafeHandles;

namespace RingAttention.IO;

/// <summary>
/// All-or-nothing output files written by every rank of a job, possibly from several processes. Each target is
/// written as a temporary file in its own folder, under a name every process of the job derives from the target path
/// and the job's token (a random number the processes share, so two jobs writing the same target never share a
/// temporary file); the process hosting rank 0 creates it exclusively (<see cref="FileMode.CreateNew"/>: O_CREAT |
/// O_EXCL, which never follows a symlink planted under that name) at full size with its header, every process writes
/// its ranks' rows into it, and once all processes report success the temporary file is renamed over the target (an
/// atomic replace of the directory entry: a symlink at the target is replaced, never followed).
/// Any failure, on any process, removes the temporary files and leaves whatever was at the targets untouched.
/// Every process makes exactly three calls to the agreement function whatever happens, so a collective
/// implementation (an MPI allreduce) never waits on a process that gave up.
/// </summary>
public static class ShardedOutputFiles
{
    /// <summary>The temporary file that becomes <paramref name="target"/> in the job <paramref name="jobToken"/>: hidden, beside it, the same name on every process of the job.</summary>
    public static string TemporaryPath(string target, long jobToken)
    {
        string full = Path.GetFullPath(target);
        return Path.Combine(Path.GetDirectoryName(full) ?? ".", $".{Path.GetFileName(full)}.{jobToken:x16}.ringattn-partial");
    }

    /// <summary>
    /// Writes <paramref name="outputs"/>: <paramref name="jobToken"/> is the same on every process of the job and
    /// differs between jobs (a shared random number); <paramref name="writeShards"/> writes this process's ranks' rows;
    /// <paramref name="createsFiles"/> is true on exactly one process (the one hosting rank 0), which creates and
    /// renames the files; <paramref name="allSucceeded"/> returns true on every process when its argument was true
    /// on every process (a logical-and allreduce; the identity for a single process).
    /// </summary>
    public static void Write(IReadOnlyList<OutputTensor> outputs, long jobToken, bool createsFiles, Func<bool, bool> allSucceeded, Action<ShardWriter> writeShards)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        var targets = outputs.Select(o => Path.GetFullPath(o.Path)).ToArray();
        if (targets.Distinct(StringComparer.Ordinal).Count() != targets.Length)
        {
            throw new ArgumentException($"{nameof(outputs)}: expected distinct paths, actual {string.Join(", ", outputs.Select(o => o.Path))}.", nameof(outputs));
        }
        var temporary = outputs.Select(o => TemporaryPath(o.Path, jobToken)).ToArray();
        // Only files this process created are removed on failure: never a file another job (or an attacker) put there.
        var created = new List<string>();
        var headers = new byte[outputs.Count][];

        Agree(allSucceeded, created, "creating", () =>
        {
            if (createsFiles)
            {
                for (int i = 0; i < outputs.Count; i++)
                {
                    TensorFiles.CheckWritableTarget(outputs[i].Path);
                    headers[i] = outputs[i].EncodeHeader();
                    Create(outputs[i].Path, temporary[i], headers[i], headers[i].Length + outputs[i].DataBytes);
                    created.Add(temporary[i]);
                }
            }
        });

        Agree(allSucceeded, created, "writing", () =>
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

        Agree(allSucceeded, created, "renaming", () =>
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
    private static void Agree(Func<bool, bool> allSucceeded, List<string> created, string phase, Action work)
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
        foreach (var path in created)
        {
            TryDelete(path);
        }
        failure?.Throw();
        throw new IOException($"output files not written: another process failed while {phase} them; files already at the targets are untouched");
    }

    private static void Create(string target, string path, byte[] header, long totalBytes)
    {
        SafeFileHandle handle;
        try
        {
            // CreateNew is O_CREAT | O_EXCL: it fails on anything already there, a symlink included, instead of following it.
            // Reserving the blocks now turns a full disk into an error here rather than a failed write of some rank's rows.
            handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, FileOptions.None, totalBytes);
        }
        catch (UnauthorizedAccessException e)
        {
            string folder = Path.GetDirectoryName(Path.GetFullPath(target)) ?? ".";
            throw new TensorFileException(target, "folder", $"cannot create a file in '{folder}': permission denied (the folder is not writable)", e);
        }
        catch (IOException e) when (File.Exists(path) || Directory.Exists(path) || new FileInfo(path).LinkTarget is not null)
        {
            throw new IOException($"{target}: the temporary file {path} already exists (another job, or something planted there); nothing was written", e);
        }
        using (handle)
        {
            RandomAccess.SetLength(handle, totalBytes);
            RandomAccess.Write(handle, header, 0);
        }
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
