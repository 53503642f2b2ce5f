// The window's Live preview: follows the Scene view's (or the chosen) camera. When the camera moves or the scene
// changes (debounced), the colour, linear depth and Humanoid pose are captured at a reduced size on the main
// thread (Unity renders only there) and sent as the next frame of a live session; only inputs that changed travel
// (LiveFrameBuilder). Sending and the PollLive long-poll run on the thread pool; results come back to the main
// thread through a queue pumped from EditorApplication.update, so the editor never waits on the network.
// At most one send is in flight: a change during it is captured once it returns (latest wins on this side too).
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using DccBridge.Core;
using DccBridge.Editor.Capture;
using UnityEditor;
using UnityEngine;

namespace DccBridge.Editor
{
    /// <summary>What the window hands the live preview on each repaint.</summary>
    public sealed class LiveSetup
    {
        public DiffusionParams Settings;
        public Camera Camera;
        public bool UseSceneView = true;
        public bool Depth, Pose, Canny;
        public float DepthWeight = 1f, PoseWeight = 1f, CannyWeight = 0.8f;
        public int Width = 512, Height = 512;   // the window's output size: the live size keeps its aspect
    }

    [Serializable]
    public sealed class LivePreview
    {
        public int MaxSide = 256;
        public bool SendColour = true;
        public float Strength = 0.6f;
        public int Steps;                      // 0 = the server's live default (few-step when the model has it)
        public float DebounceSeconds = 0.15f;

        [NonSerialized] private bool _on;
        [NonSerialized] private LiveSetup _setup;
        [NonSerialized] private Action _repaint;
        [NonSerialized] private DccBridgeClient _client;
        [NonSerialized] private LiveSession _session;
        [NonSerialized] private CancellationTokenSource _cts;
        [NonSerialized] private bool _opening, _sending, _dirty;
        [NonSerialized] private double _changedAt;
        [NonSerialized] private string _configKey = "", _key = "";
        [NonSerialized] private LiveConfig _config;
        [NonSerialized] private List<ControlType> _slots = new List<ControlType>();
        [NonSerialized] private float[] _cameraSignature;
        [NonSerialized] private Texture2D _preview;
        [NonSerialized] private string _status = "";
        [NonSerialized] private ConcurrentQueue<Action> _main;   // made in Start: Unity may deserialize without initializers

        public void Draw(LiveSetup setup, Action repaint)
        {
            _setup = setup;
            _repaint = repaint;
            if (setup.Settings != null)
            {
                _config = Config(setup);   // here, once per repaint, rather than on every editor update
                _key = ConfigKey(_config);
            }
            EditorGUILayout.Space();
            EditorGUILayout.LabelField("Live preview", EditorStyles.boldLabel);
            bool on = EditorGUILayout.Toggle("Live (follows the camera)", _on);
            MaxSide = EditorGUILayout.IntSlider("Live size (longer side)", MaxSide, 64, 768);
            Steps = EditorGUILayout.IntSlider("Live steps (0 = server's)", Steps, 0, 30);
            SendColour = EditorGUILayout.Toggle("Send colour (img2img)", SendColour);
            using (new EditorGUI.DisabledScope(!SendColour)) Strength = EditorGUILayout.Slider("Live strength", Strength, 0.05f, 1f);
            if (on != _on) { if (on) Start(); else Stop(); }
            EditorGUILayout.LabelField(_status, EditorStyles.wordWrappedMiniLabel);
            if (_preview != null) GUILayout.Label(_preview, GUILayout.MaxHeight(256), GUILayout.MaxWidth(256));
        }

        public void Start()
        {
            if (_on) return;
            if (_main == null) _main = new ConcurrentQueue<Action>();
            _on = true;
            _dirty = true;
            _changedAt = 0;
            SceneView.duringSceneGui += OnSceneGui;
            EditorApplication.update += Tick;
            EditorApplication.hierarchyChanged += MarkDirty;
            Undo.undoRedoPerformed += MarkDirty;
            ObjectChangeEvents.changesPublished += OnObjectChanges;
            AssemblyReloadEvents.beforeAssemblyReload += Stop;
            _status = "starting...";
        }

        /// <summary>Off: unhook, close the session in the background (best effort), keep the last image.</summary>
        public void Stop()
        {
            if (!_on) return;
            _on = false;
            SceneView.duringSceneGui -= OnSceneGui;
            EditorApplication.update -= Tick;
            EditorApplication.hierarchyChanged -= MarkDirty;
            Undo.undoRedoPerformed -= MarkDirty;
            ObjectChangeEvents.changesPublished -= OnObjectChanges;
            AssemblyReloadEvents.beforeAssemblyReload -= Stop;
            CloseSession("off");
            _status = "off";
        }

        private void MarkDirty()
        {
            _dirty = true;
            _changedAt = EditorApplication.timeSinceStartup;
        }

        private void OnObjectChanges(ref ObjectChangeEventStream stream) { if (stream.length > 0) MarkDirty(); }

        /// <summary>The Scene view repaints when its camera moves: compare the camera's world → clip matrix.</summary>
        private void OnSceneGui(SceneView view) { CheckCamera(); }

        private void CheckCamera()
        {
            if (_setup == null) return;
            Camera camera = _setup.UseSceneView || _setup.Camera == null
                ? (SceneView.lastActiveSceneView != null ? SceneView.lastActiveSceneView.camera : null)
                : _setup.Camera;
            if (camera == null) return;
            float[] signature = CameraCapture.Projection(camera, 64, 64).WorldToClip;
            if (_cameraSignature != null && Same(signature, _cameraSignature)) return;
            _cameraSignature = signature;
            MarkDirty();
        }

        private static bool Same(float[] a, float[] b)
        {
            for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) return false;
            return true;
        }

        private void Tick()
        {
            Action action;
            for (int budget = 16; budget > 0 && _main.TryDequeue(out action); budget--)
            {
                try { action(); } catch (Exception e) { Debug.LogException(e); }
            }
            if (!_on || _setup == null || _setup.Settings == null || _config == null) return;
            if (!_setup.UseSceneView && _setup.Camera != null) CheckCamera();   // a chosen camera: no Scene view event
            var config = _config;
            string key = _key;
            if (_session != null && key != _configKey) { CloseSession("settings changed"); MarkDirty(); }
            if (_session != null && _session.Book.Closed != null)
            {
                // Ended by the server (idle timeout, shutdown): the next change opens a new session, not this tick.
                _status = "live: " + LiveSizes.Describe(_session.Book) + "; the next change starts a new session";
                CloseSession("ended");
            }
            if (_session != null && PromptAndSeed(_setup) != _lastPrompt) { _lastPrompt = PromptAndSeed(_setup); MarkDirty(); }
            if (!_dirty || _opening || _sending) return;
            if (EditorApplication.timeSinceStartup - _changedAt < DebounceSeconds) return;
            if (_session == null) { Open(config, key); return; }
            Send();
        }

        [NonSerialized] private string _lastPrompt = "";

        private static string PromptAndSeed(LiveSetup s) { return (s.Settings.Prompt ?? "") + "|" + s.Settings.Seed; }

        private LiveConfig Config(LiveSetup s)
        {
            var p = s.Settings;
            int[] size = LiveSizes.Fit(s.Width, s.Height, MaxSide);
            var config = new LiveConfig
            {
                ModelId = p.ModelId, Prompt = p.Prompt, NegativePrompt = p.NegativePrompt, Width = size[0], Height = size[1],
                Steps = Steps > 0 ? Steps : (int?)null, Seed = p.Seed, Strength = SendColour ? Strength : (float?)null,
                Adapters = p.Adapters, JpegResults = true, Label = "unity live",
            };
            if (s.Depth) config.Controls.Add(new LiveSlot(ControlType.Depth, s.DepthWeight));
            if (s.Pose) config.Controls.Add(new LiveSlot(ControlType.Openpose, s.PoseWeight));
            if (s.Canny) config.Controls.Add(new LiveSlot(ControlType.Canny, s.CannyWeight));
            return config;
        }

        /// <summary>What needs a new session when it changes (prompt and seed travel in frames instead).</summary>
        private static string ConfigKey(LiveConfig config)
        {
            var j = LiveWire.Config(config);
            j.Set("prompt", JsonValue.Null);
            j.Set("sampling", JsonValue.Null);
            return j.ToString() + "|" + config.Steps;
        }

        private void Open(LiveConfig config, string key)
        {
            _opening = true;
            _dirty = true;   // the first frame follows as soon as the session is open
            _status = "opening a live session...";
            _configKey = key;
            _slots = new List<ControlType>();
            foreach (var slot in config.Controls) _slots.Add(slot.Type);
            _cts = new CancellationTokenSource();
            var ct = _cts.Token;
            var client = _client = new DccBridgeClient(Settings.ServerUrl, Settings.Token);
            Task.Run(async () =>
            {
                try
                {
                    var session = await LiveSession.OpenAsync(client, config, ct).ConfigureAwait(false);
                    _main.Enqueue(() => Opened(session, ct));
                }
                catch (Exception e)
                {
                    var error = e as DccBridgeException;
                    string text = error != null && error.Code == "unimplemented"
                        ? "live: this server has no live mode (OpenLive is unimplemented; update dccbridge)" : "live: " + e.Message;
                    _main.Enqueue(() => { _opening = false; _dirty = false; _status = text; Repaint(); });
                }
            });
        }

        private void Opened(LiveSession session, CancellationToken ct)
        {
            _opening = false;
            if (ct.IsCancellationRequested)
            {
                Task.Run(async () => { try { await session.CloseAsync().ConfigureAwait(false); } catch (Exception) { } });
                return;
            }
            _session = session;
            _lastPrompt = PromptAndSeed(_setup);
            _status = "live session " + session.SessionId + ": " + session.Resolved.Width + "x" + session.Resolved.Height;
            Task.Run(() => PollLoop(session, ct));
            Repaint();
        }

        /// <summary>Captures now (main thread, reduced size), sends on the thread pool.</summary>
        private void Send()
        {
            LiveCapture capture;
            try { capture = Capture(_setup, _session.Resolved.Width, _session.Resolved.Height); }
            catch (Exception e) { _dirty = false; _status = "live capture: " + e.Message; return; }
            _dirty = false;
            _sending = true;
            var session = _session;
            var ct = _cts.Token;
            Task.Run(async () =>
            {
                string error = null;
                bool gone = false;
                try { await session.SendAsync(capture, false, ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { }
                catch (Exception e) { error = e.Message; gone = IsGone(e); }
                _main.Enqueue(() =>
                {
                    _sending = false;
                    if (error == null) return;
                    _status = "live: " + error;
                    if (gone && _session == session) { CloseSession("gone"); MarkDirty(); }   // e.g. the server restarted
                    Repaint();
                });
            });
        }

        private LiveCapture Capture(LiveSetup s, int width, int height)
        {
            bool temporary;
            var camera = CameraCapture.Resolve(s.Camera, s.UseSceneView, out temporary);
            try
            {
                var capture = new LiveCapture { Prompt = s.Settings.Prompt ?? "", Seed = s.Settings.Seed };
                byte[] colour = SendColour || _slots.Contains(ControlType.Canny) ? CameraCapture.RenderColorPng(camera, width, height) : null;
                if (SendColour) capture.ImagePng = colour;
                for (int slot = 0; slot < _slots.Count; slot++)
                {
                    switch (_slots[slot])
                    {
                        case ControlType.Depth:
                            capture.Controls.Add(LiveControlInput.Depth(slot, CameraCapture.DepthPass(camera, width, height)));
                            break;
                        case ControlType.Openpose:
                            var rig = HumanoidCapture.Rig(HumanoidCapture.FindCharacters(Selection.gameObjects), CameraCapture.Projection(camera, width, height));
                            capture.Controls.Add(LiveControlInput.Pose(slot, rig));   // no one in view: an empty canvas
                            break;
                        default:
                            capture.Controls.Add(LiveControlInput.CannyFrom(slot, colour));
                            break;
                    }
                }
                return capture;
            }
            finally { CameraCapture.Release(camera, temporary); }
        }

        private async Task PollLoop(LiveSession session, CancellationToken ct)
        {
            while (!ct.IsCancellationRequested && session.Book.Closed == null)
            {
                try
                {
                    long shownBefore = session.Book.Shown != null ? session.Book.Shown.Frame : 0;
                    await session.PollAsync(10000, ct).ConfigureAwait(false);
                    var shown = session.Book.Shown;
                    string text = LiveSizes.Describe(session.Book);
                    if (shown != null && shown.Frame != shownBefore && shown.ImageData != null)
                    {
                        byte[] image = shown.ImageData;
                        _main.Enqueue(() => Show(image, text));
                    }
                    else _main.Enqueue(() => { _status = text; Repaint(); });
                }
                catch (OperationCanceledException) { return; }
                catch (Exception e) when (IsGone(e))
                {
                    string message = e.Message;
                    _main.Enqueue(() => { _status = "live: " + message; if (_session == session) CloseSession("gone"); Repaint(); });
                    return;
                }
                catch (Exception e)
                {
                    string message = e.Message;
                    _main.Enqueue(() => { _status = "live: " + message + " (retrying)"; Repaint(); });
                    try { await Task.Delay(1000, ct).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
                }
            }
        }

        /// <summary>The session no longer exists on the server (restarted, or ended and forgotten).</summary>
        private static bool IsGone(Exception e)
        {
            var error = e as DccBridgeException;
            return error != null && error.Code == "not_found";
        }

        private void Show(byte[] image, string text)
        {
            if (_preview == null) _preview = new Texture2D(2, 2) { hideFlags = HideFlags.HideAndDontSave };
            _preview.LoadImage(image);
            _status = text;
            Repaint();
        }

        private void CloseSession(string why)
        {
            if (_cts != null) _cts.Cancel();
            var session = _session;
            var client = _client;
            _session = null;
            _client = null;
            _opening = _sending = false;
            if (session == null) { if (client != null) client.Dispose(); return; }
            Task.Run(async () =>
            {
                try
                {
                    using (var quick = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
                        await session.CloseAsync(quick.Token).ConfigureAwait(false);
                }
                catch (Exception) { /* gone already, or unreachable: the server's idle timeout ends it */ }
                finally { if (client != null) client.Dispose(); }
            });
        }

        private void Repaint() { if (_repaint != null) _repaint(); }
    }
}
