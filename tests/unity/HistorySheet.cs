// A history contact sheet and ListJobs figures from the Unity client core (tests/unity/history_sheet.py compiles
// this with the core and runs it under Mono against a real server): makes a few jobs of different kinds as the
// editor would, one re-run with a new seed, then lists them as the History workspace does (a page of thumbnails)
// and writes each entry (thumbnail JPEG + one CSV row: what the panel shows). Side by side in one run: ListJobs
// for the page with 64 px thumbnails against the same page without (bytes and median ms of ROUNDS calls).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using DccBridge.Core;
using DccBridge.Tests;

public static class HistorySheet
{
    private static T Sync<T>(Task<T> task) { return task.GetAwaiter().GetResult(); }

    public static int Main(string[] args)
    {
        string url = args[0], token = args[1], outDir = args[2];
        int size = int.Parse(args[3]), steps = int.Parse(args[4]), rounds = int.Parse(args[5]);
        Directory.CreateDirectory(outDir);
        using (var c = new DccBridgeClient(url, token) { ClientName = "dccbridge-unity" })
        {
            Func<Task<JobInfo>, JobInfo> run = submit => Sync(c.WaitAsync(Sync(submit).JobId));
            var depth = DepthPlane.FromBottomFirst(Enumerable.Range(0, size * size).Select(i => 2f + (i % size) * 0.05f + (i / size) * 0.02f).ToArray(), size, size, 0.3f, 100f);
            var castle = new GenerateRequest { Prompt = "a castle on a hill", Width = size, Height = size, Steps = steps, Seed = 7 };
            castle.ControlUnits.Add(ControlUnitSpec.Depth(depth, 1f));
            var first = run(c.SubmitAsync(castle, new JobOptions { Label = "unity: a castle on a hill" }));
            run(c.SubmitAsync(new GenerateRequest { Prompt = "a red lantern", Width = size, Height = size, Steps = steps, Seed = 11 }));
            run(c.SubmitAsync(new Depth2ImgRequest { Prompt = "ruined temple", Width = size, Height = size, Steps = steps, Seed = 3, InitImagePng = first.Result.Images[0].Data, Strength = 0.8f, DepthPass = depth }));
            run(c.SubmitAsync(new TextureRequest { Prompt = "mossy cobblestones", Width = size, Height = size, Steps = steps, Seed = 5, Tiling = TilingAxes.Both }));
            run(c.SubmitAsync(new UpscaleRequest { ImagePng = first.Result.Images[0].Data, Method = UpscaleMethod.Lanczos, Scale = 2f }));
            var castleEntry = Sync(c.ListJobsAsync(new HistoryQuery { Text = "castle", PageSize = 1 })).Entries[0];
            var inputs = new Dictionary<string, JsonValue>();
            foreach (var path in castleEntry.StrippedInputs) inputs[path] = WireFormat.Depth(depth);   // recaptured
            run(c.RerunAsync(castleEntry, History.NewSeed(castleEntry.Seed, new Random(1)), inputs));

            var query = new HistoryQuery { PageSize = 10, ThumbnailSize = 64 };
            var page = Sync(c.ListJobsAsync(query));
            using (var csv = new StreamWriter(Path.Combine(outDir, "entries.csv")))
            {
                csv.WriteLine("file\ttask\tprompt\tseed\tmodel\tcontrols\trecapture");
                for (int i = 0; i < page.Entries.Count; i++)
                {
                    var e = page.Entries[i];
                    string file = i.ToString("00") + ".jpg";
                    if (e.ThumbnailJpeg != null) File.WriteAllBytes(Path.Combine(outDir, file), e.ThumbnailJpeg);
                    csv.WriteLine(string.Join("\t", new[] { e.ThumbnailJpeg != null ? file : "", e.TaskCase, e.Prompt, e.Seed.HasValue ? e.Seed.Value.ToString() : "",
                        e.Job.ModelId, string.Join("+", e.Controls.ToArray()), string.Join(", ", e.StrippedInputs.ToArray()) }));
                }
            }
            // Side by side: the page with thumbnails and without, alternating, medians.
            var with = new List<double>(); var without = new List<double>();
            long bytesWith = 0, bytesWithout = 0;
            for (int r = 0; r < rounds; r++)
                foreach (int thumb in new[] { 64, 0 })
                {
                    var sw = Stopwatch.StartNew();
                    var raw = Sync(c.CallAsync("ListJobs", History.ListJobsRequest(new HistoryQuery { PageSize = 10, ThumbnailSize = thumb }), default(System.Threading.CancellationToken)));
                    double ms = sw.Elapsed.TotalMilliseconds;
                    if (thumb > 0) { with.Add(ms); bytesWith = raw.ToString().Length; } else { without.Add(ms); bytesWithout = raw.ToString().Length; }
                }
            Console.WriteLine("jobs listed: " + page.Entries.Count);
            Console.WriteLine("ListJobs page of " + page.Entries.Count + ", 64 px thumbnails: " + bytesWith + " B JSON, median " + Median(with).ToString("0.0") + " ms");
            Console.WriteLine("ListJobs page of " + page.Entries.Count + ", no thumbnails:    " + bytesWithout + " B JSON, median " + Median(without).ToString("0.0") + " ms");
        }
        return 0;
    }

    private static double Median(List<double> xs) { var s = xs.OrderBy(x => x).ToList(); return s[s.Count / 2]; }
}
