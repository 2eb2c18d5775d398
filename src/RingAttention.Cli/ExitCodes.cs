namespace RingAttention.Cli;

/// <summary>Process exit codes of <c>ringattn</c>.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int VerificationFailed = 1;
    public const int BadUsage = 2;
    public const int Failed = 3;
}
