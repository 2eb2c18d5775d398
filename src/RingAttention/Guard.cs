using System.Runtime.CompilerServices;

namespace RingAttention;

/// <summary>Argument checks whose messages name the argument, the expected value and the actual value.</summary>
internal static class Guard
{
    public static void InRange(long actual, long min, long max, [CallerArgumentExpression(nameof(actual))] string name = "")
    {
        if (actual < min || actual > max)
        {
            throw new ArgumentOutOfRangeException(name, $"{name}: expected a value in [{min}, {max}], actual {actual}.");
        }
    }

    public static void AtLeast(long actual, long min, [CallerArgumentExpression(nameof(actual))] string name = "")
    {
        if (actual < min)
        {
            throw new ArgumentOutOfRangeException(name, $"{name}: expected at least {min}, actual {actual}.");
        }
    }

    public static void Length(long actual, long expected, string what, [CallerArgumentExpression(nameof(actual))] string name = "")
    {
        if (actual != expected)
        {
            throw new ArgumentException($"{name}: expected {expected} elements ({what}), actual {actual}.", name);
        }
    }

    public static void That(bool condition, string name, string expected, object? actual)
    {
        if (!condition)
        {
            throw new ArgumentException($"{name}: expected {expected}, actual {actual}.", name);
        }
    }
}
