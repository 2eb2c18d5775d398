namespace RingAttention.Bench;

/// <summary>The repository the bench runs in (launch scripts and the ringattn build live there).</summary>
internal static class Repository
{
    /// <summary>The folder holding RingAttention.sln, searched upward from the working directory, then from the bench's binary.</summary>
    public static string Root { get; } = Find(Environment.CurrentDirectory) ?? Find(AppContext.BaseDirectory)
        ?? throw new InvalidOperationException($"RingAttention.sln not found above {Environment.CurrentDirectory} or {AppContext.BaseDirectory}");

    private static string? Find(string start)
    {
        for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "RingAttention.sln")))
            {
                return directory.FullName;
            }
        }
        return null;
    }
}
