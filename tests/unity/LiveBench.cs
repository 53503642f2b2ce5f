// Live mode figures for the Unity client core (tests/unity/live_bench.py compiles this with the core and runs it
// under Mono against a real server). Side by side in one run, frames alternating between two sessions:
//   "changes" — LiveFrameBuilder as the editor uses it: only the input that changed (the pose) travels;
//   "resend"  — the builder forgets before each frame: colour, depth plane and pose travel every time.
// Then "latest wins": frames sent back to back without waiting for answers, which a long-poll task collects.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using DccBridge.Core;
using DccBridge.Tests;

public static class LiveBench
{
    private static T Sync<T>(Task<T> task) { return task.GetAwaiter().GetResult(); }

    private static LiveCapture Capture(int size, int frame)
    {
        var depth = new float[size * size];
        for (int i = 0; i < depth.Length; i++) depth[i] = 2f + (i % size) * 0.01f + (i / size) * 0.02f;
        var rig = new PoseRigData { CanvasWidth = size, CanvasHeight = size };
        var person = new Keypoint[18];
        for (int k = 0; k < 18; k++) person[k] = new Keypoint(size * 0.3f + k * 2 + frame % 20, size * 0.2f + k * 3, true);
        rig.People.Add(person);
        var capture = new LiveCapture
        {
            ImagePng = TestPng.EncodeRgb(size, size, (x, y) => new[] { (byte)(x * 255 / size), (byte)(y * 255 / size), (byte)((x ^ y) & 255) }),
            Prompt = "a knight in a hall",
        };
        capture.Controls.Add(LiveControlInput.Depth(0, DepthPlane.FromBottomFirst(depth, size, size, 0.3f, 100f)));
        capture.Controls.Add(LiveControlInput.Pose(1, rig));
        return capture;
    }

    private static LiveConfig Config(int size, int steps)
    {
        var config = new LiveConfig { Prompt = "a knight in a hall", Width = size, Height = size, Steps = steps, Seed = 1, SimilarityThreshold = 0f, Strength = 0.5f };
        config.Controls.Add(new LiveSlot(ControlType.Depth));
        config.Controls.Add(new LiveSlot(ControlType.Openpose));
        return config;
    }

    /// <summary>Sends one frame and long-polls until it is answered; returns (client ms, request bytes, server total ms,
    /// server prepare ms, client ms to write the request's JSON).</summary>
    private static double[] OneFrame(LiveSession session, LiveCapture capture, bool resend)
    {
        if (resend) session.Frames.Forget();
        var clock = Stopwatch.StartNew();
        var frame = Sync(session.SendAsync(capture));
        while (true)
        {
            var answer = Sync(session.PollAsync(10000)).FirstOrDefault(e => e.AnsweredFrame == frame.Frame);
            if (answer == null) continue;
            double ms = clock.Elapsed.TotalMilliseconds;
            if (answer.Kind != LiveEventKind.Result) throw new Exception("frame " + frame.Frame + ": " + answer.Kind);
            var encode = Stopwatch.StartNew();
            int bytes = LiveWire.SendFrameRequest(session.SessionId, frame).ToString().Length;
            double encodeMs = encode.Elapsed.TotalMilliseconds;
            var t = answer.Result.Timings;
            return new[] { ms, bytes, t.TotalMs, t.PrepareMs, encodeMs };
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    public static int Main(string[] args)
    {
        string url = args[0], token = args.Length > 1 ? args[1] : "";
        int size = args.Length > 2 ? int.Parse(args[2]) : 256, steps = args.Length > 3 ? int.Parse(args[3]) : 2;
        int rounds = args.Length > 4 ? int.Parse(args[4]) : 20;
        string timeline = args.Length > 5 ? args[5] : "";   // CSV of the latest-wins run: frame,event,ms
        using (var client = new DccBridgeClient(url, token))
        {
            var changes = Sync(LiveSession.OpenAsync(client, Config(size, steps)));
            var resend = Sync(LiveSession.OpenAsync(client, Config(size, steps)));
            var results = new Dictionary<string, List<double[]>> { { "changes", new List<double[]>() }, { "resend", new List<double[]>() } };
            for (int round = 0; round < rounds + 2; round++)
            {
                var capture = Capture(size, round);
                var a = OneFrame(changes, capture, false);
                var b = OneFrame(resend, capture, true);
                if (round < 2) continue;   // warm-up: the first frame carries everything in both
                results["changes"].Add(a);
                results["resend"].Add(b);
            }
            Console.WriteLine("live frames at {0}x{0}, {1} steps, {2} frames each, alternating (medians):", size, steps, rounds);
            foreach (var pair in results)
                Console.WriteLine("  {0,-8} round trip {1,7:F1} ms   request {2,8:F0} bytes   JSON written in {5,5:F2} ms   server total {3,6:F1} ms, prepare {4,5:F1} ms",
                                  pair.Key, Median(pair.Value.Select(r => r[0])), Median(pair.Value.Select(r => r[1])), Median(pair.Value.Select(r => r[2])),
                                  Median(pair.Value.Select(r => r[3])), Median(pair.Value.Select(r => r[4])));
            Sync(changes.CloseAsync());
            Sync(resend.CloseAsync());

            // Latest wins: frames sent back to back with a 10 ms pause for 3 s (a camera being dragged), the long-poll on its own task.
            var live = Sync(LiveSession.OpenAsync(client, Config(size, steps)));
            var stop = new CancellationTokenSource();
            var lags = new List<double>();
            var rows = new List<string>();
            var run = Stopwatch.StartNew();
            var poller = Task.Run(async () =>
            {
                long shown = 0;
                while (!stop.IsCancellationRequested || live.Book.Outstanding > 0)
                {
                    foreach (var e in await live.PollAsync(2000).ConfigureAwait(false))
                        if (e.AnsweredFrame > 0) lock (rows) rows.Add(e.AnsweredFrame + "," + e.Kind + "," + run.Elapsed.TotalMilliseconds.ToString("F1", System.Globalization.CultureInfo.InvariantCulture));
                    if (live.Book.Shown != null && live.Book.Shown.Frame != shown) { shown = live.Book.Shown.Frame; lock (lags) lags.Add(live.Book.ShownRoundTripMs); }
                }
            });
            int sent = 0;
            while (run.ElapsedMilliseconds < 3000)
            {
                double at = run.Elapsed.TotalMilliseconds;
                var frame = Sync(live.SendAsync(Capture(size, 1000 + sent)));
                lock (rows) rows.Add(frame.Frame + ",Sent," + at.ToString("F1", System.Globalization.CultureInfo.InvariantCulture));
                sent++;
                Thread.Sleep(10);
            }
            stop.Cancel();
            poller.GetAwaiter().GetResult();
            double seconds = run.Elapsed.TotalSeconds;
            var closed = Sync(live.CloseAsync());
            Console.WriteLine("latest wins, frames sent back to back (10 ms pause) for 3 s: sent {0} ({1:F0}/s), computed {2} ({3:F1}/s), superseded {4}, " +
                              "newest frame shown {5} of {0}; shown frames' send-to-result median {6:F0} ms",
                              sent, sent / seconds, closed.FramesComputed, closed.FramesComputed / seconds, closed.FramesSuperseded,
                              live.Book.Shown.Frame, Median(lags));
            if (timeline.Length > 0) System.IO.File.WriteAllLines(timeline, new[] { "frame,event,ms" }.Concat(rows).ToArray());
        }
        return 0;
    }
}
