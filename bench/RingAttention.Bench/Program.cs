using RingAttention;
using RingAttention.Bench;
using RingAttention.Cpu;

// scratch: kernel n heads d causal threads dtype reps
if (args[0] == "peak") { for (int i = 0; i < 5; i++) { var c0 = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime; double g = FmaPeak.Measure(1, 1); var c = (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - c0).TotalSeconds; Console.WriteLine($"peak 1: {g:F1} wall, cpu-based {g * 0 + 40e6*24*16*2/c/1e9:F1}"); } return; }
int n = int.Parse(args[0]), heads = int.Parse(args[1]), d = int.Parse(args[2]);
bool causal = args[3] == "1";
int threads = int.Parse(args[4]);
var dtype = Enum.Parse<ElementType>(args[5]);
int reps = int.Parse(args[6]);
var tier = args.Length > 7 ? Enum.Parse<SimdTier>(args[7]) : SimdTiers.Best;
using var backend = new CpuBackend(threads, tier);
using var problem = new KernelProblem(new AttentionOptions { Heads = heads, HeadDim = d, Causal = causal, ElementType = dtype }, n);
double best = double.MaxValue;
for (int r = 0; r < reps; r++)
{
    var cpu0 = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
    double t = problem.Time(backend);
    double cpu = (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
    best = Math.Min(best, t);
    Console.WriteLine($"rep {r}: {t:F3} s  {problem.Flops / t / 1e9:F1} GFLOP/s   per-cpu-second {problem.Flops / cpu / 1e9:F1}");
}
Console.WriteLine($"best {problem.Flops / best / 1e9:F1} GFLOP/s  check {problem.FirstOutput(5):G6}");
