using System.Text;

namespace RingAttention.Cli;

/// <summary>
/// Standard error of one MPI rank: every line starts with "rank R: ", so that messages from many processes, which
/// the launcher interleaves, say where they came from. Each line goes to the stream in one write, so the launcher
/// never interleaves two ranks' lines mid-line (a console writer would split lines longer than its small buffer).
/// </summary>
internal sealed class RankPrefixedWriter(Stream inner, int rank) : TextWriter
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);
    private readonly StringBuilder _line = new();
    private readonly Lock _sync = new();

    public override Encoding Encoding => Utf8;

    public override void Write(char value)
    {
        lock (_sync)
        {
            Put(value);
        }
    }

    public override void Write(string? value)
    {
        lock (_sync)
        {
            foreach (char c in value ?? "")
            {
                Put(c);
            }
        }
    }

    public override void WriteLine(string? value) => Write((value ?? "") + "\n");

    public override void Flush()
    {
        lock (_sync)
        {
            if (_line.Length > 0)
            {
                EmitLine();
            }
        }
    }

    private void Put(char value)
    {
        if (value == '\n')
        {
            EmitLine();
        }
        else if (value != '\r')
        {
            _line.Append(value);
        }
    }

    private void EmitLine()
    {
        inner.Write(Utf8.GetBytes($"rank {rank}: {_line}\n"));
        inner.Flush();
        _line.Clear();
    }
}
