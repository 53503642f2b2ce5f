// History (ListJobs + re-run + re-apply) and workspace memory. The server tests need DCCBRIDGE_HTTP_URL (a real
// server; tests/test_unity_core.py starts one on the tiny preset). RecordThenRecall also runs in two halves across
// a server restart: DCCBRIDGE_HISTORY_PHASE=record writes the job it made to DCCBRIDGE_HISTORY_FILE, =recall
// finds it again in the history of the restarted server (unset: both halves on one server).
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using DccBridge.Core;
using NUnit.Framework;

namespace DccBridge.Tests
{
    [TestFixture]
    public class HistoryTests
    {
        private static string Url { get { return Environment.GetEnvironmentVariable("DCCBRIDGE_HTTP_URL") ?? ""; } }
        private static string Token { get { return Environment.GetEnvironmentVariable("DCCBRIDGE_TOKEN") ?? ""; } }
        private static T Sync<T>(System.Threading.Tasks.Task<T> task) { return task.GetAwaiter().GetResult(); }

        /// <summary>A client name of its own, so other fixtures' jobs on the same server stay out of these lists.</summary>
        private static DccBridgeClient Client(string name)
        {
            if (Url.Length == 0) Assert.Ignore("set DCCBRIDGE_HTTP_URL to a dccbridge server's HTTP face to run these");
            return new DccBridgeClient(Url, Token) { ClientName = name };
        }

        private static JobInfo Generate(DccBridgeClient c, string prompt, long seed)
        {
            var r = new GenerateRequest { Prompt = prompt, Width = 64, Height = 64, Steps = 2, Seed = seed };
            return Sync(c.WaitAsync(Sync(c.SubmitAsync(r, new JobOptions { Label = "unity: " + prompt })).JobId));
        }

        private static string Pixels(byte[] png) { return Convert.ToBase64String(TestPng.Decode(png).Pixels); }

        [Test]
        public void ListsThisClientsJobsWithFiltersThumbnailsAndPages()
        {
            string me = "unity-history-" + Guid.NewGuid().ToString("N").Substring(0, 8);
            using (var c = Client(me))
            {
                var red = Generate(c, "A Red Cube", 11);
                var blue = Generate(c, "blue sphere", 12);
                var page = Sync(c.ListJobsAsync(new HistoryQuery { Client = me, ThumbnailSize = 32 }));
                CollectionAssert.AreEqual(new[] { blue.JobId, red.JobId }, page.Entries.Select(e => e.Job.JobId).ToArray(), "newest first");
                Assert.IsFalse(page.HasMore);
                var first = page.Entries[1];
                Assert.AreEqual(me, first.Client);
                Assert.AreEqual("generate", first.TaskCase);
                Assert.AreEqual("A Red Cube", first.Prompt);
                Assert.AreEqual(11L, first.Seed);
                Assert.AreEqual(64, first.Width);
                Assert.AreEqual(2, first.Steps);
                Assert.AreEqual(JobState.Succeeded, first.Job.State);
                Assert.Greater(first.CreatedMs, 1600000000000L);
                CollectionAssert.IsEmpty(first.StrippedInputs, "a txt2img has no image inputs");
                Assert.IsNotNull(first.ThumbnailJpeg);
                Assert.AreEqual(0xFF, first.ThumbnailJpeg[0]);
                Assert.AreEqual(0xD8, first.ThumbnailJpeg[1]);          // a JPEG, never the full PNG
                Assert.Less(first.ThumbnailJpeg.Length, 4000);
                Assert.IsNull(first.Job.Result.Images[0].Data);

                var text = Sync(c.ListJobsAsync(new HistoryQuery { Client = me, Text = "red", ThumbnailSize = 0 }));
                CollectionAssert.AreEqual(new[] { red.JobId }, text.Entries.Select(e => e.Job.JobId).ToArray());
                Assert.IsNull(text.Entries[0].ThumbnailJpeg);
                Assert.AreEqual(0, Sync(c.ListJobsAsync(new HistoryQuery { Client = me, TaskTypes = { "IMG2IMG" } })).Entries.Count);
                Assert.AreEqual(2, Sync(c.ListJobsAsync(new HistoryQuery { Client = me, TaskTypes = { "txt2img" } })).Entries.Count);
                Assert.AreEqual(0, Sync(c.ListJobsAsync(new HistoryQuery { Client = me, ModelId = "no-such-model" })).Entries.Count);
                var after = Sync(c.ListJobsAsync(new HistoryQuery { Client = me, CreatedAfterMs = page.Entries[0].CreatedMs }));
                Assert.AreEqual(blue.JobId, after.Entries[0].Job.JobId);

                var one = Sync(c.ListJobsAsync(new HistoryQuery { Client = me, PageSize = 1 }));
                Assert.IsTrue(one.HasMore);
                Assert.AreEqual(blue.JobId, one.Entries.Single().Job.JobId);
                var two = Sync(c.ListJobsAsync(new HistoryQuery { Client = me, PageSize = 1, PageToken = one.NextPageToken }));
                Assert.AreEqual(red.JobId, two.Entries.Single().Job.JobId);

                // Bad input: refused before sending, naming the field and its range; the server's own refusal names its field.
                var range = Assert.Throws<ArgumentOutOfRangeException>(delegate { History.ListJobsRequest(new HistoryQuery { ThumbnailSize = 513 }); });
                StringAssert.Contains("thumbnail_size must be 0..512", range.Message);
                var type = Assert.Throws<ArgumentException>(delegate { History.ListJobsRequest(new HistoryQuery { TaskTypes = { "PAINT" } }); });
                StringAssert.Contains("TXT2IMG", type.Message);
                var server = Assert.Throws<DccBridgeException>(delegate
                { Sync(c.ListJobsAsync(new HistoryQuery { CreatedAfterMs = 5, CreatedBeforeMs = 5 })); });
                Assert.AreEqual("invalid_argument", server.Code);
                StringAssert.Contains("created_before_ms", server.Message);
            }
        }

        [Test]
        public void RerunRepeatsTheImageWithTheSameSeedAndChangesItWithANewOne()
        {
            string me = "unity-rerun-" + Guid.NewGuid().ToString("N").Substring(0, 8);
            using (var c = Client(me))
            {
                var original = Generate(c, "a lighthouse", 21);
                var entry = Sync(c.ListJobsAsync(new HistoryQuery { Client = me })).Entries.Single();
                var same = Sync(c.WaitAsync(Sync(c.RerunAsync(entry, entry.Seed)).JobId));
                Assert.AreNotEqual(original.JobId, same.JobId);
                Assert.AreEqual(21L, same.Result.Images[0].Seed);
                Assert.AreEqual(Pixels(original.Result.Images[0].Data), Pixels(same.Result.Images[0].Data), "same task, same seed: same image");

                long fresh = History.NewSeed(entry.Seed, new Random(7));
                Assert.AreNotEqual(21L, fresh);
                var other = Sync(c.WaitAsync(Sync(c.RerunAsync(entry, fresh)).JobId));
                Assert.AreEqual(fresh, other.Result.Images[0].Seed);
                Assert.AreNotEqual(Pixels(original.Result.Images[0].Data), Pixels(other.Result.Images[0].Data), "a new seed: a new image");
                Assert.AreEqual(3, Sync(c.ListJobsAsync(new HistoryQuery { Client = me })).Entries.Count);
            }
        }

        [Test]
        public void RerunOfATaskWithImageInputsNamesWhatToRecaptureAndRunsWithIt()
        {
            string me = "unity-recapture-" + Guid.NewGuid().ToString("N").Substring(0, 8);
            using (var c = Client(me))
            {
                var albedo = Generate(c, "stone", 31).Result.Images[0].Data;
                var depth = DepthPlane.FromBottomFirst(Enumerable.Range(0, 64 * 64).Select(i => 2f + (i / 64) / 8f).ToArray(), 64, 64, 0.3f, 100f);
                var request = new Depth2ImgRequest { Prompt = "ruined temple", Width = 64, Height = 64, Steps = 2, Seed = 3, InitImagePng = albedo, Strength = 0.8f, DepthPass = depth };
                var d2i = Sync(c.WaitAsync(Sync(c.SubmitAsync(request)).JobId));
                var entry = Sync(c.ListJobsAsync(new HistoryQuery { Client = me, TaskTypes = { "DEPTH2IMG" } })).Entries.Single();
                Assert.AreEqual(d2i.JobId, entry.Job.JobId);
                CollectionAssert.AreEquivalent(new[] { "initImage", "depthPass" }, entry.StrippedInputs);

                var refused = Assert.Throws<InvalidOperationException>(delegate { History.RerunTask(entry, null); });
                StringAssert.Contains("initImage, depthPass", refused.Message);
                var inputs = new Dictionary<string, JsonValue> { { "initImage", WireFormat.Image(albedo) }, { "depthPass", WireFormat.Depth(depth) } };
                var again = Sync(c.WaitAsync(Sync(c.RerunAsync(entry, entry.Seed, inputs)).JobId));
                Assert.AreEqual(Pixels(d2i.Result.Images[0].Data), Pixels(again.Result.Images[0].Data), "recaptured inputs, same seed: same image");
                CollectionAssert.AreEquivalent(new[] { "initImage", "depthPass" }, entry.StrippedInputs, "the listed entry is left as it was");
            }
        }

        /// <summary>Re-apply = GetJob on a listed job: the full result comes back, also from a restarted server.</summary>
        [Test]
        public void RecordThenRecall()
        {
            string phase = Environment.GetEnvironmentVariable("DCCBRIDGE_HISTORY_PHASE") ?? "";
            string file = Environment.GetEnvironmentVariable("DCCBRIDGE_HISTORY_FILE") ?? Path.Combine(Path.GetTempPath(), "dccbridge-history-" + Guid.NewGuid().ToString("N"));
            if (phase != "recall")
            {
                string me = "unity-restart-" + Guid.NewGuid().ToString("N").Substring(0, 8);
                using (var c = Client(me))
                {
                    var job = Generate(c, "a windmill", 41);
                    File.WriteAllLines(file, new[] { me, job.JobId, Pixels(job.Result.Images[0].Data) });
                }
            }
            if (phase == "record") return;
            var lines = File.ReadAllLines(file);
            using (var c = Client(lines[0]))
            {
                var entry = Sync(c.ListJobsAsync(new HistoryQuery { Client = lines[0], ThumbnailSize = 48 })).Entries.Single();
                Assert.AreEqual(lines[1], entry.Job.JobId);
                Assert.AreEqual("a windmill", entry.Prompt);
                Assert.AreEqual(41L, entry.Seed);
                Assert.IsNotNull(entry.ThumbnailJpeg);
                var full = Sync(c.GetJobAsync(entry.Job.JobId));
                Assert.AreEqual(lines[2], Pixels(full.Result.Images[0].Data), "re-apply gets the very image the job made");
                var again = Sync(c.WaitAsync(Sync(c.RerunAsync(entry, entry.Seed)).JobId));
                Assert.AreEqual(lines[2], Pixels(again.Result.Images[0].Data));
            }
        }

        [Test]
        public void StrippedInputsAreFoundAtEveryDepthAndReplacedInACopy()
        {
            // A listed job as the server writes it: image bytes stripped, the rest (mime type, a pose rig) kept.
            var listed = JsonValue.Parse("{\"jobId\":\"j1\",\"state\":\"JOB_STATE_SUCCEEDED\",\"taskType\":\"generate\",\"createdMs\":\"1700000000000\"," +
                "\"task\":{\"generate\":{\"prompt\":\"p\",\"width\":64,\"height\":64,\"sampling\":{\"seed\":\"9\"},\"controlUnits\":[" +
                "{\"controlType\":\"CONTROL_TYPE_OPENPOSE\",\"poseRig\":{\"canvasWidth\":64}}," +
                "{\"controlType\":\"CONTROL_TYPE_CANNY\",\"preprocess\":{\"image\":{\"mimeType\":\"image/png\"}}}," +
                "{\"controlType\":\"CONTROL_TYPE_REFERENCE\",\"reference\":{\"images\":[{},{\"mimeType\":\"image/png\"}]}}]}}}");
            var entry = History.ParseEntry(listed);
            Assert.AreEqual(9L, entry.Seed);
            CollectionAssert.AreEqual(new[] { "OPENPOSE", "CANNY", "REFERENCE" }, entry.Controls);
            CollectionAssert.AreEqual(new[] { "controlUnits[1].preprocess.image", "controlUnits[2].reference.images[0]", "controlUnits[2].reference.images[1]" },
                                      entry.StrippedInputs, "the pose rig has no bytes: it is kept, not recaptured");
            var png = new byte[] { 1, 2, 3 };
            var inputs = entry.StrippedInputs.ToDictionary(p => p, p => WireFormat.Image(png));
            var task = History.RerunTask(entry, 77, inputs)["generate"];
            Assert.AreEqual("77", task["sampling"]["seed"].AsString());
            Assert.AreEqual("AQID", task["controlUnits"][1]["preprocess"]["image"]["data"].AsString());
            Assert.AreEqual("AQID", task["controlUnits"][2]["reference"]["images"][1]["data"].AsString());
            Assert.AreEqual(64, task["controlUnits"][0]["poseRig"]["canvasWidth"].AsInt());
            Assert.IsFalse(entry.Task["generate"]["controlUnits"][1]["preprocess"]["image"].Has("data"), "the entry is not changed");
            var missing = Assert.Throws<InvalidOperationException>(delegate { History.RerunTask(entry, null, new Dictionary<string, JsonValue> { { "controlUnits[1].preprocess.image", WireFormat.Image(png) } }); });
            StringAssert.Contains("controlUnits[2].reference.images[0], controlUnits[2].reference.images[1]", missing.Message);
            Assert.Throws<InvalidOperationException>(delegate { History.RerunTask(new HistoryEntry { Job = new JobInfo { JobId = "x" } }, 1); });
            // A kept field may be replaced too (a projection's camera, recaptured with its depth); a wrong path is named.
            inputs["controlUnits[0].poseRig"] = JsonValue.NewObject().Set("canvasWidth", 32);
            Assert.AreEqual(32, History.RerunTask(entry, null, inputs)["generate"]["controlUnits"][0]["poseRig"]["canvasWidth"].AsInt());
            inputs["controlUnits[7].depthPass"] = JsonValue.NewObject();
            var wrong = Assert.Throws<ArgumentException>(delegate { History.RerunTask(entry, null, inputs); });
            StringAssert.Contains("no input at controlUnits[7].depthPass", wrong.Message);
        }

        [Test]
        public void WorkspaceMemoryRoundTripsPerSceneAndFallsBackToGenerate()
        {
            Assert.AreEqual("DccBridge.Scene.0123abcd", WorkspaceMemory.KeyFor("0123abcd", "Assets/A.unity"));
            Assert.AreEqual("DccBridge.Scene.Assets/A.unity", WorkspaceMemory.KeyFor("", "Assets/A.unity"));
            Assert.AreEqual("DccBridge.Scene.untitled", WorkspaceMemory.KeyFor(null, ""));
            string settings = "{\"_prompt\":\"a \\\"quoted\\\" castle\",\"_steps\":4}";
            string stored = WorkspaceMemory.Write(Workspace.History, settings);
            string back;
            Assert.AreEqual(Workspace.History, WorkspaceMemory.Read(stored, out back));
            Assert.AreEqual(settings, back);
            foreach (Workspace w in Enum.GetValues(typeof(Workspace)))
                Assert.AreEqual(w, WorkspaceMemory.Read(WorkspaceMemory.Write(w, ""), out back));
            Assert.AreEqual(Workspace.Generate, WorkspaceMemory.Read("{not json", out back));
            Assert.AreEqual("", back);
            Assert.AreEqual(Workspace.Generate, WorkspaceMemory.Read("{\"workspace\":\"Sculpt\"}", out back));
            Assert.AreEqual(Workspace.Generate, WorkspaceMemory.Read(null, out back));
        }
    }
}
