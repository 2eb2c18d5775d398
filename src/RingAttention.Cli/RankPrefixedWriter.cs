using System.Text;

namespace RingAttention.Cli;

/// <summary>
/// Standard error of one MPI rank: every line starts with "rank R: ", so that messages from many processes, which
/// the launcher interleaves, say where they came from. Lines are written whole and flushed at once.
/// </summary>
internal sealed class RankPrefixedWriter(TextWriter inner, int rank) : TextWriter
{
    private readonly StringBuilder _line = new();
    private readonly Lock _sync = new();

    public override Encoding Encoding => inner.Encoding;

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
        inner.Write($"rank {rank}: {_line}\n");
        inner.Flush();
        _line.Clear();
    }
}
