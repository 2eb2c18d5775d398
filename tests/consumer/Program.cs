using RingAttention;
using RingAttention.Cpu;
using RingAttention.Layouts;
using RingAttention.Reference;
using RingAttention.Ring;

// Emulated ring attention through the package's public API, checked against the package's float64 reference.
var options = new AttentionOptions { Heads = 4, KvHeads = 2, HeadDim = 32, Causal = true };
const int n = 300;
var random = new Random(1);
float[] Fill(int length) => Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
float[] q = Fill(n * 4 * 32), k = Fill(n * 2 * 32), v = Fill(n * 2 * 32);
float[] o = new float[q.Length], lse = new float[4 * n];
using var backend = new CpuBackend();
EmulatedRing.Attention<float>(options, new ZigzagLayout(n, 3), backend, q, k, v, o, lse);
var (referenceO, referenceLse) = NaiveAttention.Forward<double>(options, n, q, k, v);
double error = o.Zip(referenceO, (a, e) => Math.Abs(a - e)).Max();
double lseError = lse.Zip(referenceLse, (a, e) => Math.Abs(a - e)).Max();
Console.WriteLine($"consumer: emulated ring attention, P=3, N={n}: O max abs err {error:E2}, LSE max abs err {lseError:E2}");
return error < 1e-5 && lseError < 1e-4 ? 0 : 1;
