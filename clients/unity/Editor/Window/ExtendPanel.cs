// The window's "Extend texture/render" block: the selected Texture2D or the camera's colour render, extended by
// margins or to an aspect ratio on the server (OutpaintTask); the result is imported as a texture asset by
// ResultApplier like every other image (its sidecar carries the placement from extra_json).
using System;
using System.Threading.Tasks;
using DccBridge.Core;
using DccBridge.Editor.Apply;
using DccBridge.Editor.Capture;
using DccBridge.Editor.Jobs;
using UnityEditor;
using UnityEngine;

namespace DccBridge.Editor
{
    [Serializable]
    public sealed class ExtendPanel
    {
        public bool ByAspect;
        public int Left = 64, Top, Right = 64, Bottom;
        public int AspectWidth = 16, AspectHeight = 9;
        public OutpaintAnchor Anchor = OutpaintAnchor.Center;
        public OutpaintFill Fill = OutpaintFill.Edge;
        public int Feather = 32;

        /// <param name="settings">The window's prompt, model, steps, seed and adapters (may throw: a stale adapter).</param>
        /// <param name="camera">The chosen camera, or null for the Scene view's.</param>
        /// <param name="width">The capture size for a render (the window's Size).</param>
        public void Draw(Func<DiffusionParams> settings, Camera camera, bool useSceneView, int width, int height)
        {
            EditorGUILayout.Space();
            EditorGUILayout.LabelField("Extend texture / render (outpaint)", EditorStyles.boldLabel);
            ByAspect = EditorGUILayout.Toggle("To aspect ratio", ByAspect);
            if (ByAspect)
            {
                using (new EditorGUILayout.HorizontalScope())
                {
                    AspectWidth = Math.Max(1, EditorGUILayout.IntField("Aspect (w : h)", AspectWidth));
                    AspectHeight = Math.Max(1, EditorGUILayout.IntField(AspectHeight));
                }
                Anchor = (OutpaintAnchor)EditorGUILayout.EnumPopup("Original at", Anchor);
            }
            else
            {
                using (new EditorGUILayout.HorizontalScope())
                {
                    Left = Math.Max(0, EditorGUILayout.IntField("Margins L / T", Left));
                    Top = Math.Max(0, EditorGUILayout.IntField(Top));
                }
                using (new EditorGUILayout.HorizontalScope())
                {
                    Right = Math.Max(0, EditorGUILayout.IntField("Margins R / B", Right));
                    Bottom = Math.Max(0, EditorGUILayout.IntField(Bottom));
                }
            }
            Fill = (OutpaintFill)EditorGUILayout.EnumPopup("Start the new area with", Fill);
            Feather = EditorGUILayout.IntSlider("Feather (px)", Feather, 0, 256);
            if (GUILayout.Button("Extend selected Texture2D")) Submit(settings, source => SelectedTexture(source));
            if (GUILayout.Button("Extend camera render")) Submit(settings, source => Render(source, camera, useSceneView, width, height));
        }

        /// <summary>The request for an image; margins are in the image's pixels, top = its top row.</summary>
        public OutpaintRequest Request(DiffusionParams settings, byte[] png)
        {
            var request = OutpaintRequest.From(settings, png);
            if (ByAspect) request.WithAspect(AspectWidth, AspectHeight, Anchor);
            else request.WithMargins(Left, Top, Right, Bottom);
            request.Fill = Fill;
            request.Feather = Feather;
            return request;
        }

        private void Submit(Func<DiffusionParams> settings, Func<PendingJob, byte[]> capture)
        {
            try
            {
                var p = settings();
                var job = new PendingJob { Kind = ResultApplier.Outpaint, Label = string.IsNullOrEmpty(p.Prompt) ? "extend" : p.Prompt };
                var request = Request(p, capture(job));
                var options = new JobOptions { PreviewEveryNSteps = 5, Label = "unity: extend " + job.Label };
                Func<DccBridgeClient, Task<JobInfo>> submit = c => c.SubmitAsync(request, options);
                JobRunner.Submit(Settings.ServerUrl, Settings.Token, job, submit);
            }
            catch (Exception e)
            {
                EditorUtility.DisplayDialog("DCC Bridge", e.Message, "OK");
            }
        }

        private static byte[] SelectedTexture(PendingJob job)
        {
            var texture = Selection.activeObject as Texture2D;
            if (texture == null) throw new InvalidOperationException("Select a Texture2D asset to extend.");
            job.Target = AssetDatabase.GetAssetPath(texture);
            return TextureCapture.EncodePng(texture);
        }

        private static byte[] Render(PendingJob job, Camera chosen, bool useSceneView, int width, int height)
        {
            bool temporary;
            var camera = CameraCapture.Resolve(chosen, useSceneView, out temporary);
            try { return CameraCapture.RenderColorPng(camera, width, height); }
            finally { CameraCapture.Release(camera, temporary); }
        }
    }
}
