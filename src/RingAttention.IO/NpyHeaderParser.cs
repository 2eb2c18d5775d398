using System.Globalization;

namespace RingAttention.IO;

/// <summary>
/// Parses the Python dict literal of a .npy header: exactly the keys 'descr' (a string), 'fortran_order' (True or
/// False) and 'shape' (a tuple of non-negative integers), in any order, with a trailing comma allowed. Anything else
/// (a structured dtype's list descr, unknown keys, trailing text) is an error naming the field.
/// </summary>
internal sealed class NpyHeaderParser
{
    private readonly string _path;
    private readonly string _text;
    private int _at;

    private NpyHeaderParser(string path, string text) => (_path, _text) = (path, text);

    public static (string Descr, bool FortranOrder, long[] Shape) Parse(string path, string text)
    {
        var parser = new NpyHeaderParser(path, text);
        var entries = parser.ParseDict();
        foreach (var key in entries.Keys.Where(k => k is not ("descr" or "fortran_order" or "shape")))
        {
            throw new TensorFileException(path, "header", $"expected only the keys 'descr', 'fortran_order' and 'shape', actual an extra key '{key}'");
        }
        return (
            Get<string>(path, entries, "descr", "a dtype string such as '<f4' (structured dtypes are not supported)"),
            Get<bool>(path, entries, "fortran_order", "True or False"),
            Get<long[]>(path, entries, "shape", "a tuple of integers"));
    }

    private static T Get<T>(string path, Dictionary<string, object> entries, string key, string expected)
    {
        if (!entries.TryGetValue(key, out var value))
        {
            throw new TensorFileException(path, key, "missing from the header");
        }
        return value is T typed ? typed : throw new TensorFileException(path, key, $"expected {expected}, actual {Show(value)}");
    }

    private static string Show(object value) => value switch
    {
        string s => $"'{s}'",
        bool b => b ? "True" : "False",
        long[] shape => "(" + string.Join(", ", shape) + ")",
        _ => value.ToString() ?? "?",
    };

    private Dictionary<string, object> ParseDict()
    {
        var entries = new Dictionary<string, object>(StringComparer.Ordinal);
        Expect('{');
        while (!TryConsume('}'))
        {
            string key = ParseString();
            Expect(':');
            object value = ParseValue(key);
            if (!entries.TryAdd(key, value))
            {
                throw new TensorFileException(_path, key, "appears twice in the header");
            }
            if (!TryConsume(','))
            {
                Expect('}');
                break;
            }
        }
        SkipWhitespace();
        if (_at != _text.Length)
        {
            throw Error("the end of the header after '}'", Near());
        }
        return entries;
    }

    private object ParseValue(string key)
    {
        SkipWhitespace();
        if (_at < _text.Length && _text[_at] is '\'' or '"')
        {
            return ParseString();
        }
        if (TryConsume('('))
        {
            var axes = new List<long>();
            while (!TryConsume(')'))
            {
                axes.Add(ParseInteger(key));
                if (!TryConsume(','))
                {
                    Expect(')');
                    break;
                }
            }
            return axes.ToArray();
        }
        if (_at < _text.Length && _text[_at] == '[')
        {
            throw new TensorFileException(_path, key, "expected a plain dtype string, actual a list (a structured dtype, which is not supported)");
        }
        foreach (var (word, value) in new[] { ("True", true), ("False", false) })
        {
            if (string.CompareOrdinal(_text, _at, word, 0, word.Length) == 0)
            {
                _at += word.Length;
                return value;
            }
        }
        throw Error($"a value for '{key}'", Near());
    }

    private long ParseInteger(string key)
    {
        SkipWhitespace();
        int start = _at;
        while (_at < _text.Length && char.IsAsciiDigit(_text[_at]))
        {
            _at++;
        }
        if (start == _at || !long.TryParse(_text.AsSpan(start, _at - start), NumberStyles.None, CultureInfo.InvariantCulture, out long value))
        {
            throw new TensorFileException(_path, key, $"expected a non-negative integer axis length, actual {Near(start)}");
        }
        // Python 2 era files write long integers with an L suffix.
        if (_at < _text.Length && _text[_at] == 'L')
        {
            _at++;
        }
        return value;
    }

    private string ParseString()
    {
        SkipWhitespace();
        if (_at >= _text.Length || _text[_at] is not ('\'' or '"'))
        {
            throw Error("a quoted string", Near());
        }
        char quote = _text[_at++];
        int end = _text.IndexOf(quote, _at);
        if (end < 0 || _text.AsSpan(_at, end - _at).Contains('\\'))
        {
            throw Error("a simple quoted string", Near(_at - 1));
        }
        string value = _text[_at..end];
        _at = end + 1;
        return value;
    }

    private void Expect(char c)
    {
        if (!TryConsume(c))
        {
            throw Error($"'{c}'", Near());
        }
    }

    private bool TryConsume(char c)
    {
        SkipWhitespace();
        if (_at < _text.Length && _text[_at] == c)
        {
            _at++;
            return true;
        }
        return false;
    }

    private void SkipWhitespace()
    {
        while (_at < _text.Length && char.IsWhiteSpace(_text[_at]))
        {
            _at++;
        }
    }

    private string Near() => Near(_at);

    private string Near(int at) => at >= _text.Length
        ? "the end of the header"
        : $"'{_text.Substring(at, Math.Min(20, _text.Length - at)).TrimEnd()}' at character {at}";

    private TensorFileException Error(string expected, string actual) =>
        new(_path, "header", $"expected {expected}, actual {actual} (header {Excerpt})");

    private string Excerpt => _text.Length <= 200 ? _text.TrimEnd() : _text[..200] + "…";
}
