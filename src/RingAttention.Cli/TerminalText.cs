using System.Text;

namespace RingAttention.Cli;

/// <summary>
/// Text that came from outside (file headers, tensor names, arguments) made safe to print: control characters,
/// escape sequences included, are shown as \xNN or \u{NNNN} escapes instead of reaching the terminal.
/// </summary>
internal static class TerminalText
{
    /// <summary><paramref name="text"/> with every control or format character escaped.</summary>
    public static string Escape(string text)
    {
        if (!text.Any(NeedsEscape))
        {
            return text;
        }
        var escaped = new StringBuilder(text.Length + 16);
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.IsBmp && NeedsEscape((char)rune.Value) || Rune.GetUnicodeCategory(rune) is System.Globalization.UnicodeCategory.Format)
            {
                escaped.Append(rune.Value < 0x100 ? $"\\x{rune.Value:x2}" : $"\\u{{{rune.Value:x4}}}");
            }
            else
            {
                escaped.Append(rune.ToString());
            }
        }
        return escaped.ToString();
    }

    private static bool NeedsEscape(char c) =>
        char.IsControl(c) || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Format or System.Globalization.UnicodeCategory.Surrogate;
}
