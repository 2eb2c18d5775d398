using System.Text.Json;
using RingAttention.Cpu;

namespace RingAttention.Tests.Cpu;

/// <summary>
/// The per-machine results folders: the slug of a CPU model, and every committed folder under bench/results named
/// after the machine its results.json says it was measured on (so a run never lands in another machine's folder).
/// </summary>
public sealed class MachineIdentityTests
{
    [Theory]
    [InlineData("AMD EPYC (family 25, model 1)", 2, "amd-epyc-family-25-model-1-2-cores")]
    [InlineData("Intel(R) Xeon(R) Platinum 8581C CPU @ 2.30GHz (family 6, model 207)", 4, "intel-r-xeon-r-platinum-8581c-cpu-2-30ghz-family-6-model-207-4-cores")]
    [InlineData("Arm64", 1, "arm64-1-cores")]
    public void SlugIsLowerCaseWithSingleDashes(string cpu, int cores, string slug) => Assert.Equal(slug, MachineIdentity.Slug(cpu, cores));

    [Fact]
    public void EveryCommittedResultsFolderIsNamedAfterItsMachine()
    {
        string root = Path.Combine(RingAttention.Tests.Planning.PlannerTests.RepositoryRoot(), "bench", "results");
        var folders = Directory.GetDirectories(root).Where(folder => File.Exists(Path.Combine(folder, "results.json"))).ToList();
        Assert.NotEmpty(folders);
        Assert.Empty(Directory.GetFiles(root, "results.json"));
        foreach (string folder in folders)
        {
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "results.json")));
            var machine = json.RootElement.GetProperty("Machine");
            Assert.Equal(MachineIdentity.Slug(machine.GetProperty("Cpu").GetString()!, machine.GetProperty("Cores").GetInt32()), Path.GetFileName(folder));
        }
    }
}
