// Window → DCC Bridge. The UI only binds to state: captures go through Editor/Capture, results through
// Editor/Apply, jobs through JobRunner; nothing here blocks on the network.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using DccBridge.Core;
using DccBridge.Editor.Apply;
using DccBridge.Editor.Capture;
using DccBridge.Editor.Jobs;
using UnityEditor;
using UnityEngine;

namespace DccBridge.Editor
{
    public sealed partial class DccBridgeWindow : EditorWindow
    {
        [SerializeField] private string _model = "";
        [SerializeField] private string _prompt = "";
        [SerializeField] private string _negative = "";
        [SerializeField] private int _width = 512, _height = 512, _steps = 20;
        [SerializeField] private float _guidance = 7.5f;
        [SerializeField] private long _seed = -1;
        [SerializeField] private bool _useSceneView = true;
        [SerializeField] private Camera _camera;
        [SerializeField] private bool _depthUnit = true, _poseUnit, _cannyUnit;
        [SerializeField] private float _depthWeight = 1f, _poseWeight = 1f, _cannyWeight = 0.8f;
        [SerializeField] private ReferenceUnitGui _reference = new ReferenceUnitGui();
        [SerializeField] private TilingAxes _tiling = TilingAxes.Both;
        [SerializeField] private bool _pbr = true;
        [SerializeField] private float _strength = 0.75f, _upscale = 2f;
        [SerializeField] private Vector2 _scroll;
        // Per-job adapters, kept with the window like the settings above; ids are checked against the server's
        // capabilities before each job (a renamed file is named in a dialog, not sent).
        [SerializeField] private List<LoraRow> _loras = new List<LoraRow>();
        [SerializeField] private string _vae = "";
        [SerializeField] private ExtendPanel _extend = new ExtendPanel();
        [SerializeField] private LivePreview _live = new LivePreview();

        [Serializable]
        private sealed class LoraRow
        {
            public string Id = "";
            public float Weight = 1f;
        }

        private string[] _models = new string[0];
        private string _connection = "";
        private Capabilities _caps;             // from the last Test connection; null until then
        private Texture2D _preview;
        private byte[] _previewBytes;

        [MenuItem("Window/DCC Bridge")]
        public static void Open() { GetWindow<DccBridgeWindow>("DCC Bridge"); }

        private void OnEnable() { JobRunner.Changed += Repaint; EnableSceneMemory(); }
        private void OnDisable() { JobRunner.Changed -= Repaint; _live.Stop(); DisableSceneMemory(); }

        private void OnGUI()
        {
            _scroll = EditorGUILayout.BeginScrollView(_scroll);
            EditorGUILayout.LabelField("Server", EditorStyles.boldLabel);
            Settings.ServerUrl = EditorGUILayout.TextField("Server URL", Settings.ServerUrl);
            Settings.Token = EditorGUILayout.PasswordField("Token", EditorPrefs.GetString("DccBridge.Token", ""));
            using (new EditorGUILayout.HorizontalScope())
            {
                if (GUILayout.Button("Test connection", GUILayout.Width(130))) TestConnection();
                EditorGUILayout.LabelField(_connection, EditorStyles.wordWrappedMiniLabel);
            }

            EditorGUILayout.Space();
            EditorGUILayout.LabelField("Prompt", EditorStyles.boldLabel);
            if (_models.Length > 0)
            {
                int index = Math.Max(0, Array.IndexOf(_models, _model));
                _model = _models[EditorGUILayout.Popup("Model", index, _models)];
            }
            else _model = EditorGUILayout.TextField("Model (empty = default)", _model);
            _prompt = EditorGUILayout.TextField("Prompt", _prompt);
            _negative = EditorGUILayout.TextField("Negative", _negative);
            using (new EditorGUILayout.HorizontalScope())
            {
                _width = EditorGUILayout.IntField("Size", _width);
                _height = EditorGUILayout.IntField(_height);
            }
            _steps = EditorGUILayout.IntSlider("Steps", _steps, 1, 150);
            _guidance = EditorGUILayout.Slider("Guidance", _guidance, 1f, 20f);
            _seed = EditorGUILayout.LongField("Seed (-1 = random)", _seed);
            DrawAdapters();

            DrawWorkspace();   // Generate, Live, Upscale, Texture or History (DccBridgeWindow.Workspaces.cs)

            EditorGUILayout.Space();
            EditorGUILayout.LabelField("Jobs", EditorStyles.boldLabel);
            EditorGUILayout.LabelField(JobRunner.Status, EditorStyles.wordWrappedLabel);
            foreach (var pending in JobRunner.Pending())
                using (new EditorGUILayout.HorizontalScope())
                {
                    bool polling = JobRunner.ActiveJobIds().Contains(pending.JobId);
                    EditorGUILayout.LabelField(pending.Kind + "  " + pending.JobId.Substring(0, Math.Min(8, pending.JobId.Length)) + (polling ? "" : "  (not polling)"));
                    if (GUILayout.Button(polling ? "Cancel" : "Forget", GUILayout.Width(70))) JobRunner.Cancel(pending.JobId);
                }
            if (GUILayout.Button("Resume pending jobs")) JobRunner.ResumePending();
            DrawPreview();
            EditorGUILayout.EndScrollView();
            if (GUI.changed) SaveSceneMemory();
        }

        /// <summary>LoRAs (weight -4..4), embeddings (insert the token; tokens in the prompt are sent) and the VAE,
        /// offered only where they fit the chosen model's family.</summary>
        private void DrawAdapters()
        {
            EditorGUILayout.Space();
            EditorGUILayout.LabelField("LoRAs, embeddings, VAE", EditorStyles.boldLabel);
            if (_caps == null)
            {
                EditorGUILayout.LabelField("Test connection to list the server's LoRAs, embeddings and VAEs." +
                                           (_loras.Count > 0 || _vae.Length > 0 ? " Chosen: " + Summary() : ""), EditorStyles.wordWrappedMiniLabel);
                return;
            }
            string family = AdapterMenu.FamilyOf(_caps, _model);
            var loras = AdapterMenu.ForFamily(_caps.Loras, family);
            LoraRow removed = null;
            foreach (var row in _loras)
                using (new EditorGUILayout.HorizontalScope())
                {
                    bool known = loras.Any(l => l.Id == row.Id);
                    EditorGUILayout.LabelField(known ? row.Id : row.Id + " (not on the server)", GUILayout.Width(150));
                    row.Weight = EditorGUILayout.Slider(row.Weight, LoraSpec.MinWeight, LoraSpec.MaxWeight);
                    if (GUILayout.Button("Remove", GUILayout.Width(70))) removed = row;
                }
            if (removed != null) _loras.Remove(removed);
            var addable = loras.Where(l => _loras.All(r => r.Id != l.Id)).ToList();
            if (addable.Count > 0)
            {
                int pick = EditorGUILayout.Popup("Add LoRA", 0, new[] { "(choose)" }.Concat(addable.Select(l => l.Label.Length > 0 ? l.Label : l.Id)).ToArray());
                if (pick > 0) _loras.Add(new LoraRow { Id = addable[pick - 1].Id });
            }
            else if (loras.Count == 0) EditorGUILayout.LabelField("No LoRAs for " + family + " models.", EditorStyles.wordWrappedMiniLabel);

            foreach (var embedding in AdapterMenu.ForFamily(_caps.Embeddings, family))
                using (new EditorGUILayout.HorizontalScope())
                {
                    string token = embedding.Token.Length > 0 ? embedding.Token : embedding.Id;
                    bool used = AdapterMenu.PromptUses(_prompt, token) || AdapterMenu.PromptUses(_negative, token);
                    EditorGUILayout.LabelField("Embedding " + token + (used ? "  (in the prompt: sent)" : ""));
                    using (new EditorGUI.DisabledScope(used))
                        if (GUILayout.Button("Insert token", GUILayout.Width(100))) _prompt = AdapterMenu.InsertToken(_prompt, token);
                }

            var vaes = AdapterMenu.ForFamily(_caps.Vaes, family).Select(v => v.Id).ToList();
            var vaeOptions = new List<string> { "Model's own" };
            vaeOptions.AddRange(vaes);
            if (_vae.Length > 0 && !vaes.Contains(_vae)) vaeOptions.Add(_vae + " (not on the server)");
            int vaeIndex = _vae.Length == 0 ? 0 : vaes.Contains(_vae) ? vaes.IndexOf(_vae) + 1 : vaeOptions.Count - 1;
            int chosen = EditorGUILayout.Popup("VAE", vaeIndex, vaeOptions.ToArray());
            if (chosen != vaeIndex) _vae = chosen == 0 ? "" : chosen <= vaes.Count ? vaes[chosen - 1] : _vae;
        }

        private string Summary()
        {
            var parts = _loras.Select(l => l.Id + " " + l.Weight.ToString("0.##")).ToList();
            if (_vae.Length > 0) parts.Add("VAE " + _vae);
            return string.Join(", ", parts.ToArray());
        }

        /// <summary>The adapters for a job. Ids the server does not offer for the model's family stop the job
        /// with a message naming them, rather than being sent (or dropped) silently.</summary>
        private AdapterSelection Adapters()
        {
            var selection = new AdapterSelection { VaeId = _vae };
            foreach (var row in _loras) selection.Loras.Add(new LoraSpec(row.Id, row.Weight));
            if (_caps == null) return selection;   // not connected yet: the server names unknown ids itself
            string family = AdapterMenu.FamilyOf(_caps, _model);
            selection.Embeddings.AddRange(AdapterMenu.EmbeddingsUsedBy(AdapterMenu.ForFamily(_caps.Embeddings, family), _prompt, _negative));
            var stale = AdapterMenu.Stale(selection, _caps, family);
            if (stale.Count > 0)
                throw new InvalidOperationException(string.Join("\n", stale.ToArray()) + "\nRemove them, or Test connection again if the server's folders changed.");
            return selection;
        }

        private static void UnitRow(string label, ref bool on, ref float weight)
        {
            using (new EditorGUILayout.HorizontalScope())
            {
                on = EditorGUILayout.ToggleLeft(label, on);
                using (new EditorGUI.DisabledScope(!on)) weight = EditorGUILayout.Slider(weight, 0f, 2f, GUILayout.Width(160));
            }
        }

        private void DrawPreview()
        {
            if (JobRunner.LastPreviewJpeg != null && JobRunner.LastPreviewJpeg != _previewBytes)
            {
                _previewBytes = JobRunner.LastPreviewJpeg;
                if (_preview == null) _preview = new Texture2D(2, 2) { hideFlags = HideFlags.HideAndDontSave };
                _preview.LoadImage(_previewBytes);
            }
            if (_preview != null) GUILayout.Label(_preview, GUILayout.MaxHeight(256), GUILayout.MaxWidth(256));
        }

        /// <summary>Runs on the main thread; the await resumes there (Unity's synchronization context) while the
        /// core's own awaits stay on the thread pool, so the editor never waits on the network.</summary>
        private async void TestConnection()
        {
            _connection = "connecting...";
            try
            {
                using (var client = new DccBridgeClient(Settings.ServerUrl, Settings.Token))
                {
                    var caps = await client.GetCapabilitiesAsync();
                    _models = new[] { "" }.Concat(caps.Models.Select(m => m.Id)).ToArray();
                    _caps = caps;
                    _connection = "OK: dccbridge " + caps.ServerVersion + " (" + caps.ApiVersion + ") on " + caps.DeviceType + " " +
                                  caps.DeviceName + ", " + caps.Models.Count + " model(s), default " + caps.DefaultModelId;
                }
            }
            catch (Exception e)
            {
                _connection = e.Message;
            }
            Repaint();
        }

        // -- building requests from captures (main thread), submitting through JobRunner ------------------

        private void Run(string kind)
        {
            try
            {
                var job = new PendingJob { Kind = kind, Label = string.IsNullOrEmpty(_prompt) ? kind : _prompt };
                Func<DccBridgeClient, Task<JobInfo>> submit = Build(kind, job);
                if (submit != null) JobRunner.Submit(Settings.ServerUrl, Settings.Token, job, submit);
            }
            catch (Exception e)
            {
                EditorUtility.DisplayDialog("DCC Bridge", e.Message, "OK");
            }
        }

        private Func<DccBridgeClient, Task<JobInfo>> Build(string kind, PendingJob job)
        {
            var options = new JobOptions { PreviewEveryNSteps = 5, Label = "unity: " + job.Label };
            if (kind == ResultApplier.Upscale)
            {
                var texture = Selection.activeObject as Texture2D;
                if (texture == null) throw new InvalidOperationException("Select a Texture2D asset to upscale.");
                job.Target = AssetDatabase.GetAssetPath(texture);
                var up = new UpscaleRequest { ImagePng = TextureCapture.EncodePng(texture), Scale = _upscale, Prompt = _prompt, RestoreFaces = FaceOption() };
                return c => c.SubmitAsync(up, options);
            }

            if (kind == ResultApplier.Texture)
            {
                // No camera units: a seamless texture's control maps would have to tile themselves.
                job.Target = Targets.Of(SelectedRenderers());
                var texture = Fill(new TextureRequest { Tiling = _tiling, PbrMaps = _pbr });
                return c => c.SubmitAsync(texture, options);
            }

            bool temporary;
            var camera = CameraCapture.Resolve(_camera, _useSceneView, out temporary);
            try
            {
                if (kind == ResultApplier.Projection)
                {
                    var renderers = SelectedRenderers();
                    if (renderers.Count == 0) throw new InvalidOperationException("Select the objects to project onto.");
                    job.Target = Targets.Projection(renderers, CameraCapture.Projection(camera, _width, _height));
                    var projection = Fill(new TextureRequest { Tiling = TilingAxes.None, PbrMaps = _pbr });
                    projection.ProjectionDepth = CameraCapture.DepthPass(camera, _width, _height);
                    projection.ProjectionViewPng = _cannyUnit ? CameraCapture.RenderColorPng(camera, _width, _height) : null;
                    projection.ProjectionCamera = CameraCapture.Describe(camera, _width, _height);
                    return c => c.SubmitAsync(projection, options);
                }
                if (kind == ResultApplier.Depth2Img)
                {
                    var d2i = Fill(new Depth2ImgRequest { Strength = _strength });
                    d2i.InitImagePng = CameraCapture.RenderColorPng(camera, _width, _height);
                    d2i.DepthPass = CameraCapture.DepthPass(camera, _width, _height);
                    return c => c.SubmitAsync(d2i, options);
                }
                var generate = Fill(new GenerateRequest { RestoreFaces = FaceOption() });
                generate.ControlUnits.AddRange(Units(camera));
                return c => c.SubmitAsync(generate, options);
            }
            finally
            {
                CameraCapture.Release(camera, temporary);
            }
        }

        /// <summary>The live preview follows the window's prompt, model, camera and units; a stale adapter pauses it.</summary>
        private LiveSetup CurrentLiveSetup()
        {
            DiffusionParams settings = null;
            try { settings = Fill(new DiffusionParams()); } catch (InvalidOperationException) { }
            return new LiveSetup
            {
                Settings = settings, Camera = _camera, UseSceneView = _useSceneView, Depth = _depthUnit, Pose = _poseUnit, Canny = _cannyUnit,
                DepthWeight = _depthWeight, PoseWeight = _poseWeight, CannyWeight = _cannyWeight, Width = _width, Height = _height,
            };
        }

        private T Fill<T>(T p) where T : DiffusionParams
        {
            p.ModelId = _model;
            p.Prompt = _prompt;
            p.NegativePrompt = _negative;
            p.Width = _width;
            p.Height = _height;
            p.Steps = _steps;
            p.GuidanceScale = _guidance;
            if (_seed >= 0) p.Seed = _seed;
            p.Adapters = Adapters();
            return p;
        }

        private List<ControlUnitSpec> Units(Camera camera)
        {
            var units = new List<ControlUnitSpec>();
            if (_depthUnit) units.Add(ControlUnitSpec.Depth(CameraCapture.DepthPass(camera, _width, _height), _depthWeight));
            if (_poseUnit)
            {
                var rig = HumanoidCapture.Rig(HumanoidCapture.FindCharacters(Selection.gameObjects), CameraCapture.Projection(camera, _width, _height));
                if (rig.People.Count == 0) Debug.LogWarning("DCC Bridge: no Humanoid character is in view; the pose unit is left out.");
                else units.Add(ControlUnitSpec.Pose(rig, _poseWeight));
            }
            if (_cannyUnit) units.Add(ControlUnitSpec.CannyFrom(CameraCapture.RenderColorPng(camera, _width, _height), _cannyWeight));
            var reference = _reference.Unit();
            if (reference != null) units.Add(reference);
            return units;
        }

        private static List<Renderer> SelectedRenderers()
        {
            var list = new List<Renderer>();
            foreach (var go in Selection.gameObjects)
                foreach (var r in go.GetComponentsInChildren<Renderer>())
                    if (!list.Contains(r)) list.Add(r);
            return list;
        }
    }
}
