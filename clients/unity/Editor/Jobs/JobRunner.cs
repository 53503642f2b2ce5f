// Runs jobs without freezing the editor: submit and long-poll on the thread pool (the core is async and never
// touches Unity), progress in Unity's Progress API with cancel, results applied on the main thread from
// EditorApplication.update. Pending job ids are persisted in EditorPrefs (per project) so a domain reload, a
// closed window or an editor restart does not lose a finished result: they are fetched again by job id.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using DccBridge.Core;
using DccBridge.Editor.Apply;
using UnityEditor;
using UnityEngine;

namespace DccBridge.Editor.Jobs
{
    [InitializeOnLoad]
    public static class JobRunner
    {
        private sealed class Running
        {
            public PendingJob Job;
            public CancellationTokenSource Cts;
            public int ProgressId;
            public bool Reloading;
        }

        private static readonly ConcurrentQueue<Action> MainThread = new ConcurrentQueue<Action>();
        private static readonly Dictionary<string, Running> Active = new Dictionary<string, Running>();

        /// <summary>State the window binds to.</summary>
        public static string Status = "";
        public static JobInfo LastUpdate;
        public static byte[] LastPreviewJpeg;
        public static event Action Changed;

        /// <summary>Per project: EditorPrefs are shared by every project of this user.</summary>
        private static string PrefsKey
        {
            get
            {
                uint hash = 2166136261;   // FNV-1a: stable across runs, unlike string.GetHashCode on some runtimes
                foreach (char c in Application.dataPath) { hash ^= c; hash *= 16777619; }
                return "DccBridge.PendingJobs." + hash.ToString("x8");
            }
        }

        static JobRunner()
        {
            EditorApplication.update += Pump;
            AssemblyReloadEvents.beforeAssemblyReload += StopPollingForReload;
            EditorApplication.delayCall += ResumePending;
        }

        public static List<PendingJob> Pending() { return PendingJob.Parse(EditorPrefs.GetString(PrefsKey, "")); }

        private static void SavePending(List<PendingJob> jobs) { EditorPrefs.SetString(PrefsKey, PendingJob.Serialize(jobs)); }

        private static void Remember(PendingJob job)
        {
            var jobs = Pending();
            jobs.RemoveAll(j => j.JobId == job.JobId);
            jobs.Add(job);
            SavePending(jobs);
        }

        private static void Forget(string jobId)
        {
            var jobs = Pending();
            jobs.RemoveAll(j => j.JobId == jobId);
            SavePending(jobs);
        }

        /// <summary>Submits on the thread pool; the job is persisted as soon as the server has accepted it.</summary>
        public static void Submit(string serverUrl, string token, PendingJob template, Func<DccBridgeClient, Task<JobInfo>> submit)
        {
            Status = "Submitting " + template.Kind + "...";
            Notify();
            Task.Run(async () =>
            {
                try
                {
                    JobInfo job;
                    using (var client = new DccBridgeClient(serverUrl, token)) job = await submit(client).ConfigureAwait(false);
                    template.JobId = job.JobId;
                    template.ServerUrl = serverUrl;
                    template.SubmittedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                    MainThread.Enqueue(() => { Remember(template); Watch(template, token); });
                }
                catch (Exception e)
                {
                    MainThread.Enqueue(() => Fail(null, template, e));
                }
            });
        }

        /// <summary>Polls every persisted job that is not being polled (after a reload, a restart, a network error).</summary>
        public static void ResumePending()
        {
            string token = Settings.Token;
            foreach (var job in Pending())
                if (!Active.ContainsKey(job.JobId)) Watch(job, token);
        }

        /// <summary>Long-polls one job; called on the main thread.</summary>
        private static void Watch(PendingJob job, string token)
        {
            var running = new Running { Job = job, Cts = new CancellationTokenSource() };
            running.ProgressId = Progress.Start("DCC Bridge: " + job.Kind, string.IsNullOrEmpty(job.Label) ? job.JobId : job.Label);
            Progress.RegisterCancelCallback(running.ProgressId, () => { running.Cts.Cancel(); return true; });
            Active[job.JobId] = running;
            Status = job.Kind + " " + job.JobId.Substring(0, Math.Min(8, job.JobId.Length)) + " queued";
            Notify();
            Task.Run(async () =>
            {
                using (var client = new DccBridgeClient(job.ServerUrl, token))
                {
                    try
                    {
                        // cancelJobOnAbort: false — a reload also stops the poll, and must not cancel the job.
                        JobInfo done = await client.WaitAsync(job.JobId, update => MainThread.Enqueue(() => Report(running, update)),
                                                              running.Cts.Token, 10000, cancelJobOnAbort: false).ConfigureAwait(false);
                        MainThread.Enqueue(() => Finish(running, done));
                    }
                    catch (OperationCanceledException)
                    {
                        if (!running.Reloading)
                        {
                            try { await client.CancelAsync(job.JobId).ConfigureAwait(false); }
                            catch (Exception) { /* already over, or unreachable: nothing to cancel */ }
                        }
                        MainThread.Enqueue(() => Cancelled(running));
                    }
                    catch (Exception e)
                    {
                        MainThread.Enqueue(() => Fail(running, job, e));
                    }
                }
            });
        }

        public static void Cancel(string jobId)
        {
            Running running;
            if (Active.TryGetValue(jobId, out running)) running.Cts.Cancel();
            else Forget(jobId);
            Notify();
        }

        public static IEnumerable<string> ActiveJobIds() { return Active.Keys; }

        private static void Report(Running running, JobInfo update)
        {
            if (!Active.ContainsKey(running.Job.JobId)) return;
            LastUpdate = update;
            string text = update.State == JobState.Queued ? "queued (position " + update.QueuePosition + ")" : update.State.ToString().ToLowerInvariant();
            float fraction = 0f;
            if (update.Progress != null)
            {
                fraction = update.Progress.Fraction;
                text = update.Progress.Stage + " " + update.Progress.Step + "/" + update.Progress.Total;
                if (update.Progress.PreviewJpeg != null) LastPreviewJpeg = update.Progress.PreviewJpeg;
            }
            Progress.Report(running.ProgressId, fraction, text);
            Status = running.Job.Kind + ": " + text;
            Notify();
        }

        private static void Finish(Running running, JobInfo done)
        {
            Active.Remove(running.Job.JobId);
            try
            {
                ResultApplier.Apply(running.Job, done);
                Progress.Finish(running.ProgressId, Progress.Status.Succeeded);
                Status = running.Job.Kind + " done: " + done.Result.Images.Count + " image(s) in " + ResultImporter.Folder;
                Forget(running.Job.JobId);
            }
            catch (Exception e)
            {
                // Keep it pending: the result stays on the server and is fetched again after a fix or reload.
                Progress.Finish(running.ProgressId, Progress.Status.Failed);
                Status = "Applying the result failed: " + e.Message;
                Debug.LogException(e);
            }
            Notify();
        }

        private static void Cancelled(Running running)
        {
            Active.Remove(running.Job.JobId);
            if (running.Reloading) return;   // still pending on the server: resumed after the reload
            Progress.Finish(running.ProgressId, Progress.Status.Canceled);
            Forget(running.Job.JobId);
            Status = running.Job.Kind + " cancelled";
            Notify();
        }

        private static void Fail(Running running, PendingJob job, Exception e)
        {
            if (running != null)
            {
                Active.Remove(running.Job.JobId);
                Progress.Finish(running.ProgressId, Progress.Status.Failed);
            }
            var error = e as DccBridgeException;
            bool transient = error != null && error.Code == "unavailable" && !string.IsNullOrEmpty(job.JobId);
            if (!string.IsNullOrEmpty(job.JobId) && !transient) Forget(job.JobId);
            Status = job.Kind + " failed: " + (error != null ? error.Message : e.Message) +
                     (transient ? " (the job stays pending: Resume when the server is back)" : "");
            Debug.LogError("DCC Bridge: " + Status);
            Notify();
        }

        /// <summary>A reload kills our threads: stop polling without cancelling the jobs (they stay persisted).</summary>
        private static void StopPollingForReload()
        {
            foreach (var running in Active.Values)
            {
                running.Reloading = true;
                running.Cts.Cancel();
                Progress.Remove(running.ProgressId);
            }
        }

        private static void Pump()
        {
            Action action;
            int budget = 32;
            while (budget-- > 0 && MainThread.TryDequeue(out action))
            {
                try { action(); } catch (Exception e) { Debug.LogException(e); }
            }
        }

        private static void Notify() { if (Changed != null) Changed(); }
    }
}
