// The window's workspaces (Generate, Live, Upscale, Texture, History) below the shared settings (server, model,
// prompt, adapters), and their memory per scene: the last workspace and the window's settings are written to
// EditorPrefs under the scene's GUID (WorkspaceMemory) and read back when the scene is opened again.
using System.Collections.Generic;
using DccBridge.Core;
using DccBridge.Editor.Apply;
using DccBridge.Editor.Capture;
using DccBridge.Editor.Jobs;
using UnityEditor;
using UnityEditor.SceneManagement;
using UnityEngine;
using UnityEngine.SceneManagement;

namespace DccBridge.Editor
{
    public sealed partial class DccBridgeWindow
    {
        [SerializeField] private Workspace _workspace = Workspace.Generate;
        [SerializeField] private HistoryPanel _history = new HistoryPanel();
        private string _sceneKey = "";

        private void DrawWorkspace()
        {
            EditorGUILayout.Space();
            _workspace = (Workspace)GUILayout.Toolbar((int)_workspace, WorkspaceMemory.Names);
            switch (_workspace)
            {
                case Workspace.Generate:
                    DrawCapture(true);
                    _reference.Draw(_caps, _model);   // IP-Adapter reference: a unit of the generate job
                    if (GUILayout.Button("Generate image from camera (ControlNet)")) Run(ResultApplier.Generate);
                    _strength = EditorGUILayout.Slider("Depth2img strength", _strength, 0.05f, 1f);
                    if (GUILayout.Button("Depth2img from camera")) Run(ResultApplier.Depth2Img);
                    DrawRestoreFaces();   // sent with Generate (DccBridgeWindow.Faces.cs)
                    _extend.Draw(() => Fill(new DiffusionParams()), _camera, _useSceneView, _width, _height);
                    break;
                case Workspace.Live:
                    DrawCapture(true);
                    _live.Draw(CurrentLiveSetup(), Repaint);
                    break;
                case Workspace.Upscale:
                    _upscale = EditorGUILayout.Slider("Upscale factor", _upscale, 1f, 8f);
                    DrawRestoreFaces();   // the same setting, sent with Upscale too
                    if (GUILayout.Button("Upscale selected Texture2D")) Run(ResultApplier.Upscale);
                    break;
                case Workspace.Texture:
                    _tiling = (TilingAxes)EditorGUILayout.EnumPopup("Seamless", _tiling);
                    _pbr = EditorGUILayout.Toggle("PBR maps", _pbr);
                    if (GUILayout.Button("Seamless PBR texture → material on selection")) Run(ResultApplier.Texture);
                    DrawCapture(false);
                    if (GUILayout.Button("Project from camera → material on selection")) Run(ResultApplier.Projection);
                    break;
                case Workspace.History:
                    _history.Draw(Reapply, Rerun, Repaint);
                    break;
            }
        }

        private void DrawCapture(bool units)
        {
            EditorGUILayout.Space();
            EditorGUILayout.LabelField("Capture", EditorStyles.boldLabel);
            _useSceneView = EditorGUILayout.Toggle("Scene view camera", _useSceneView);
            using (new EditorGUI.DisabledScope(_useSceneView))
                _camera = (Camera)EditorGUILayout.ObjectField("Camera", _camera, typeof(Camera), true);
            if (!units) return;
            UnitRow("Depth (linear, float plane)", ref _depthUnit, ref _depthWeight);
            UnitRow("Pose (Humanoid characters)", ref _poseUnit, ref _poseWeight);
            UnitRow("Canny (from the colour render)", ref _cannyUnit, ref _cannyWeight);
        }

        // -- History: re-apply and re-run through JobRunner, like a fresh job ---------------------------------

        /// <summary>Fetches the finished job (GetJob) and applies it as its kind applies: a texture job as a
        /// material on the selection, anything else as texture assets.</summary>
        private void Reapply(HistoryEntry entry)
        {
            bool texture = entry.TaskCase == "texture";
            var job = new PendingJob { Kind = texture ? ResultApplier.Texture : ApplyKind(entry), Label = "history: " + entry.Prompt };
            if (texture) job.Target = Targets.Of(SelectedRenderers());
            string id = entry.Job.JobId;
            JobRunner.Submit(Settings.ServerUrl, Settings.Token, job, c => c.GetJobAsync(id, 0, 0, true));
        }

        /// <summary>Submits the stored task again (same seed, or a new one); inputs whose bytes the server stripped
        /// are captured again from the current camera (depth, colour) or the selected texture (upscale).</summary>
        private void Rerun(HistoryEntry entry, bool newSeed)
        {
            try
            {
                long? seed = newSeed ? History.NewSeed(entry.Seed) : entry.Seed;
                var job = new PendingJob { Kind = entry.TaskCase == "texture" ? ResultApplier.Texture : ApplyKind(entry), Label = "re-run: " + entry.Prompt };
                var inputs = Recapture(entry, job);
                if (job.Kind == ResultApplier.Texture) job.Target = Targets.Of(SelectedRenderers());
                var options = new JobOptions { PreviewEveryNSteps = 5, Label = "unity: " + job.Label };
                History.RerunTask(entry, seed, inputs);   // refuses here, on the main thread, naming what is missing
                JobRunner.Submit(Settings.ServerUrl, Settings.Token, job, c => c.RerunAsync(entry, seed, inputs, options));
            }
            catch (System.Exception e)
            {
                EditorUtility.DisplayDialog("DCC Bridge", e.Message, "OK");
            }
        }

        private static string ApplyKind(HistoryEntry entry)
        {
            return entry.TaskCase == "depth2img" ? ResultApplier.Depth2Img : entry.TaskCase == "upscale" ? ResultApplier.Upscale
                 : entry.TaskCase == "outpaint" ? ResultApplier.Outpaint : ResultApplier.Generate;
        }

        /// <summary>The stripped inputs, captured now. A projection is projected again from the current camera onto
        /// the selection: its camera description is replaced too, so depth, view and camera agree.</summary>
        private Dictionary<string, JsonValue> Recapture(HistoryEntry entry, PendingJob job)
        {
            var inputs = new Dictionary<string, JsonValue>();
            if (entry.StrippedInputs.Count == 0) return inputs;
            int w = entry.Width > 0 ? entry.Width : _width, h = entry.Height > 0 ? entry.Height : _height;
            if (entry.TaskCase == "upscale" || entry.TaskCase == "outpaint")
            {
                var texture = Selection.activeObject as Texture2D;
                if (texture == null) throw new System.InvalidOperationException("Select the Texture2D to " + entry.TaskCase + " again (the server keeps no input images).");
                foreach (var path in entry.StrippedInputs) inputs[path] = WireFormat.Image(TextureCapture.EncodePng(texture));
                return inputs;
            }
            bool temporary;
            var camera = CameraCapture.Resolve(_camera, _useSceneView, out temporary);
            try
            {
                if (entry.TaskCase == "texture" && entry.Task["texture"].Has("projection"))
                {
                    var renderers = SelectedRenderers();
                    if (renderers.Count == 0) throw new System.InvalidOperationException("Select the objects to project onto.");
                    job.Kind = ResultApplier.Projection;
                    job.Target = Targets.Projection(renderers, CameraCapture.Projection(camera, w, h));
                    inputs["projection.camera"] = WireFormat.Camera(CameraCapture.Describe(camera, w, h));
                }
                foreach (var path in entry.StrippedInputs)
                {
                    if (path.Contains(".reference.images["))
                    {
                        if (!_reference.Enabled || _reference.Texture == null)
                            throw new System.InvalidOperationException("This job had a reference image: turn on Reference (IP-Adapter image) and choose its texture to re-run it.");
                        inputs[path] = WireFormat.Image(TextureCapture.EncodePng(_reference.Texture));
                    }
                    else inputs[path] = path.EndsWith("depthPass") ? WireFormat.Depth(CameraCapture.DepthPass(camera, w, h))
                                                                   : WireFormat.Image(CameraCapture.RenderColorPng(camera, w, h));
                }
            }
            finally
            {
                CameraCapture.Release(camera, temporary);
            }
            return inputs;
        }

        // -- memory per scene ----------------------------------------------------------------------------------

        private void EnableSceneMemory()
        {
            EditorSceneManager.activeSceneChangedInEditMode += OnSceneChanged;
            EditorSceneManager.sceneSaved += OnSceneSaved;
            LoadSceneMemory();
        }

        private void DisableSceneMemory()
        {
            SaveSceneMemory();
            EditorSceneManager.activeSceneChangedInEditMode -= OnSceneChanged;
            EditorSceneManager.sceneSaved -= OnSceneSaved;
        }

        /// <summary>A scene saved for the first time (or under a new name) gets a GUID: its memory moves to that key.</summary>
        private void OnSceneSaved(Scene scene)
        {
            if (scene.path != SceneManager.GetActiveScene().path) return;
            _sceneKey = WorkspaceMemory.KeyFor(AssetDatabase.AssetPathToGUID(scene.path), scene.path);
            SaveSceneMemory();
        }

        private void OnSceneChanged(Scene from, Scene to)
        {
            _live.Stop();        // the live session belongs to the scene that was open
            SaveSceneMemory();   // under the key of the scene that was open
            LoadSceneMemory();
            Repaint();
        }

        private void SaveSceneMemory()
        {
            if (_sceneKey.Length > 0) EditorPrefs.SetString(_sceneKey, WorkspaceMemory.Write(_workspace, EditorJsonUtility.ToJson(this)));
        }

        private void LoadSceneMemory()
        {
            var scene = SceneManager.GetActiveScene();
            _sceneKey = WorkspaceMemory.KeyFor(AssetDatabase.AssetPathToGUID(scene.path), scene.path);
            string settings;
            var workspace = WorkspaceMemory.Read(EditorPrefs.GetString(_sceneKey, ""), out settings);
            if (settings.Length > 0) EditorJsonUtility.FromJsonOverwrite(settings, this);
            _workspace = workspace;
        }
    }
}
