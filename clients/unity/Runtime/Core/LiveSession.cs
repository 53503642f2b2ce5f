// A live session over HTTP/1.1: OpenLive, SendLiveFrame, PollLive (long-poll, like GetJob's), CloseLive.
// LiveFrameBuilder numbers frames and leaves out inputs that did not change (hashes of colour, depth, pose);
// LiveBook keeps the latest-wins books: every frame is answered once, a result older than the one shown is
// dropped. Neither touches the network, so both are tested alone; LiveSession joins them to a DccBridgeClient.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace DccBridge.Core
{
    /// <summary>64-bit FNV-1a of an input's bytes and the numbers that give them meaning.</summary>
    public static class LiveHash
    {
        private const ulong Offset = 14695981039346656037UL, Prime = 1099511628211UL;

        public static ulong Of(byte[] bytes, ulong hash = Offset)
        {
            if (bytes == null) return hash;
            foreach (byte b in bytes) { hash ^= b; hash *= Prime; }
            return hash;
        }

        public static ulong Of(string text, ulong hash = Offset) { return Of(Encoding.UTF8.GetBytes(text ?? ""), hash); }

        /// <summary>The input as the server would see it: source kind, bytes and parameters (not the slot).</summary>
        public static ulong Of(LiveControlInput c)
        {
            if (c.DepthPass != null)
            {
                var d = c.DepthPass;
                string meta = string.Format(CultureInfo.InvariantCulture, "depth {0}x{1} {2} {3} {4} {5}", d.Width, d.Height, d.Encoding, d.Near, d.Far, d.Normalization);
                return Of(d.Float32Le, Of(meta));
            }
            if (c.PoseRig != null) return Of("pose " + WireFormat.Pose(c.PoseRig));
            if (c.PreprocessPng != null) return Of(c.PreprocessPng, Of("preprocess " + c.CannyLow + " " + c.CannyHigh));
            return Of(c.ImagePng, Of("image"));
        }
    }

    /// <summary>Numbers frames and sends only what changed since the last frame the server accepted.
    /// Call Forget() when a send failed or a frame was refused: the next frame then carries every input.</summary>
    public sealed class LiveFrameBuilder
    {
        private readonly object _lock = new object();
        private long _last;
        private ulong? _image;
        private readonly Dictionary<int, ulong> _slots = new Dictionary<int, ulong>();
        private string _prompt;
        private long? _seed;

        public long LastFrame { get { return _last; } }

        /// <summary>The prompt and seed the session was opened with (a frame repeats them only when they change).</summary>
        public void Opened(string prompt, long? seed) { lock (_lock) { _prompt = prompt ?? ""; _seed = seed; } }

        /// <summary>A LiveUpdate changed the prompt and/or seed: later frames need not repeat them.</summary>
        public void Updated(string prompt, long? seed)
        {
            lock (_lock)
            {
                if (prompt != null) _prompt = prompt;
                if (seed.HasValue) _seed = seed;
            }
        }

        /// <summary>The next frame, or null when nothing changed (unless force: then a frame with no inputs, which
        /// the server answers from the previous ones).</summary>
        public LiveFrameData Next(LiveCapture capture, bool force = false)
        {
            lock (_lock) return NextLocked(capture, force);
        }

        private LiveFrameData NextLocked(LiveCapture capture, bool force)
        {
            var frame = new LiveFrameData();
            ulong? image = capture.ImagePng != null ? LiveHash.Of(capture.ImagePng) : (ulong?)null;
            if (image.HasValue && image != _image) frame.ImagePng = capture.ImagePng;
            var slots = new Dictionary<int, ulong>();
            foreach (var input in capture.Controls)
            {
                if (slots.ContainsKey(input.Slot)) throw new ArgumentException("slot " + input.Slot + " appears twice in one capture");
                ulong hash = LiveHash.Of(input);
                slots[input.Slot] = hash;
                ulong previous;
                if (!_slots.TryGetValue(input.Slot, out previous) || previous != hash) frame.Controls.Add(input);
            }
            if (capture.Prompt != null && capture.Prompt != _prompt) frame.Prompt = capture.Prompt;
            if (capture.Seed.HasValue && capture.Seed != _seed) frame.Seed = capture.Seed;
            bool changed = frame.ImagePng != null || frame.Controls.Count > 0 || frame.Prompt != null || frame.Seed.HasValue;
            if (!changed && !force) return null;

            frame.Frame = ++_last;
            if (image.HasValue) _image = image;
            foreach (var pair in slots) _slots[pair.Key] = pair.Value;
            if (frame.Prompt != null) _prompt = frame.Prompt;
            if (frame.Seed.HasValue) _seed = frame.Seed;
            return frame;
        }

        /// <summary>Forget what was sent (numbering goes on): the next frame carries every input again.</summary>
        public void Forget()
        {
            lock (_lock)
            {
                _image = null;
                _slots.Clear();
                _prompt = null;
                _seed = null;
            }
        }
    }

    /// <summary>Latest-wins bookkeeping of one session: which frames wait for an answer, which result is shown,
    /// counts. Thread-safe (the editor sends on one task and polls on another).</summary>
    public sealed class LiveBook
    {
        private readonly object _lock = new object();
        private readonly Dictionary<long, long> _sentAtMs = new Dictionary<long, long>();   // outstanding frame → send time
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public long LastSequence { get; private set; }
        public long LatestSent { get; private set; }
        public LiveResultInfo Shown { get; private set; }
        /// <summary>Client-measured time from sending the shown frame to receiving its result.</summary>
        public double ShownRoundTripMs { get; private set; }
        public int Results { get; private set; }
        public int Reused { get; private set; }
        public int Superseded { get; private set; }
        public int Failed { get; private set; }
        public int StaleResults { get; private set; }
        public LiveEvent LastFailure { get; private set; }
        public LiveClosedInfo Closed { get; private set; }

        public int Outstanding { get { lock (_lock) return _sentAtMs.Count; } }

        /// <summary>The server accepted frame; supersededFrame (SendLiveFrameResponse) is the waiting one it replaced.
        /// After a LiveUpdate the frame is the last one again (the server computes it again with the new prompt).</summary>
        public void Sent(long frame, long supersededFrame)
        {
            lock (_lock)
            {
                if (supersededFrame > 0 && _sentAtMs.Remove(supersededFrame)) Superseded++;
                _sentAtMs[frame] = _clock.ElapsedMilliseconds;
                if (frame > LatestSent) LatestSent = frame;
            }
        }

        /// <summary>Applies one polled event; true when it is a result to show now (newer than the one shown).
        /// Events at or below LastSequence (a poll repeated after a timeout) are ignored.</summary>
        public bool Apply(LiveEvent e)
        {
            lock (_lock)
            {
                if (e.Sequence > 0 && e.Sequence <= LastSequence) return false;
                if (e.Sequence > LastSequence) LastSequence = e.Sequence;
                switch (e.Kind)
                {
                    case LiveEventKind.Result:
                    {
                        long sentAt;
                        bool known = _sentAtMs.TryGetValue(e.Result.Frame, out sentAt);
                        _sentAtMs.Remove(e.Result.Frame);
                        Results++;
                        if (e.Result.Reused) Reused++;
                        // Equal is newer too: the same frame computed again after a LiveUpdate (a new sequence).
                        if (Shown != null && e.Result.Frame < Shown.Frame) { StaleResults++; return false; }
                        Shown = e.Result;
                        ShownRoundTripMs = known ? _clock.ElapsedMilliseconds - sentAt : 0;
                        return true;
                    }
                    case LiveEventKind.Superseded:
                        if (_sentAtMs.Remove(e.Frame)) Superseded++;   // not counted twice after SendLiveFrame said so
                        return false;
                    case LiveEventKind.FrameFailed:
                        _sentAtMs.Remove(e.Frame);
                        Failed++;
                        LastFailure = e;
                        return false;
                    case LiveEventKind.Closed:
                        Closed = e.Closed;
                        _sentAtMs.Clear();
                        return false;
                    default:
                        return false;
                }
            }
        }
    }

    /// <summary>The live RPCs on a DccBridgeClient (Connect unary calls; PollLive is the long-poll).</summary>
    public static class LiveCalls
    {
        public const int MaxPollWaitMs = 60000;

        public static async Task<LiveEvent> OpenLiveAsync(this DccBridgeClient client, LiveConfig config, CancellationToken ct = default(CancellationToken))
        {
            return LiveWire.ParseOpenResponse(await client.CallAsync("OpenLive", LiveWire.OpenRequest(config), ct).ConfigureAwait(false));
        }

        public static async Task<long> SendLiveFrameAsync(this DccBridgeClient client, string sessionId, LiveFrameData frame, CancellationToken ct = default(CancellationToken))
        {
            return LiveWire.ParseSendFrameResponse(await client.CallAsync("SendLiveFrame", LiveWire.SendFrameRequest(sessionId, frame), ct).ConfigureAwait(false));
        }

        public static async Task<long> UpdateLiveAsync(this DccBridgeClient client, string sessionId, string prompt, long? seed, CancellationToken ct = default(CancellationToken))
        {
            return LiveWire.ParseSendFrameResponse(await client.CallAsync("SendLiveFrame", LiveWire.SendUpdateRequest(sessionId, prompt, seed), ct).ConfigureAwait(false));
        }

        public static async Task<List<LiveEvent>> PollLiveAsync(this DccBridgeClient client, string sessionId, long afterSequence, int waitMs, CancellationToken ct = default(CancellationToken))
        {
            waitMs = Math.Max(0, Math.Min(waitMs, MaxPollWaitMs));
            var j = await client.CallAsync("PollLive", LiveWire.PollRequest(sessionId, afterSequence, waitMs), ct).ConfigureAwait(false);
            return LiveWire.ParsePollResponse(j);
        }

        public static async Task<LiveClosedInfo> CloseLiveAsync(this DccBridgeClient client, string sessionId, CancellationToken ct = default(CancellationToken))
        {
            return LiveWire.ParseCloseResponse(await client.CallAsync("CloseLive", LiveWire.CloseRequest(sessionId), ct).ConfigureAwait(false));
        }
    }

    /// <summary>One open session: send captures (only what changed), poll answers into the book, close.
    /// Send from one task at a time; poll from another.</summary>
    public sealed class LiveSession
    {
        private readonly DccBridgeClient _client;

        public string SessionId { get; private set; }
        /// <summary>The settings as the server resolved them (model, size, steps, threshold...).</summary>
        public LiveConfig Resolved { get; private set; }
        public LiveFrameBuilder Frames { get; private set; }
        public LiveBook Book { get; private set; }

        private LiveSession(DccBridgeClient client, LiveEvent opened, LiveConfig asked)
        {
            _client = client;
            SessionId = opened.OpenedSessionId;
            Resolved = opened.OpenedConfig;
            Frames = new LiveFrameBuilder();
            Frames.Opened(asked.Prompt, asked.Seed);
            Book = new LiveBook();
        }

        public static async Task<LiveSession> OpenAsync(DccBridgeClient client, LiveConfig config, CancellationToken ct = default(CancellationToken))
        {
            var opened = await client.OpenLiveAsync(config, ct).ConfigureAwait(false);
            return new LiveSession(client, opened, config);
        }

        /// <summary>Sends the capture's changed inputs as the next frame; null when nothing changed. On any error
        /// the builder forgets what was sent, so the next frame carries every input again.</summary>
        public async Task<LiveFrameData> SendAsync(LiveCapture capture, bool force = false, CancellationToken ct = default(CancellationToken))
        {
            var frame = Frames.Next(capture, force);
            if (frame == null) return null;
            try
            {
                long superseded = await _client.SendLiveFrameAsync(SessionId, frame, ct).ConfigureAwait(false);
                Book.Sent(frame.Frame, superseded);
                return frame;
            }
            catch (Exception)
            {
                Frames.Forget();
                throw;
            }
        }

        /// <summary>One long-poll: the events after the last one seen, applied to the book. A failed frame makes
        /// the next frame resend every input (the server may not have kept a refused one).</summary>
        public async Task<List<LiveEvent>> PollAsync(int waitMs, CancellationToken ct = default(CancellationToken))
        {
            var events = await _client.PollLiveAsync(SessionId, Book.LastSequence, waitMs, ct).ConfigureAwait(false);
            foreach (var e in events)
                if (e.Kind == LiveEventKind.FrameFailed) Frames.Forget();
            foreach (var e in events) Book.Apply(e);
            return events;
        }

        public async Task<long> UpdateAsync(string prompt, long? seed, CancellationToken ct = default(CancellationToken))
        {
            long superseded = await _client.UpdateLiveAsync(SessionId, prompt, seed, ct).ConfigureAwait(false);
            Frames.Updated(prompt, seed);
            if (Frames.LastFrame > 0) Book.Sent(Frames.LastFrame, superseded);
            return superseded;
        }

        public async Task<LiveClosedInfo> CloseAsync(CancellationToken ct = default(CancellationToken))
        {
            var closed = await _client.CloseLiveAsync(SessionId, ct).ConfigureAwait(false);
            Book.Apply(new LiveEvent { Kind = LiveEventKind.Closed, Closed = closed });
            return closed;
        }
    }
}
