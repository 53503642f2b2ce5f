// Capture from a Camera (or the Scene view's camera): colour PNG, linear eye depth as a float plane, the
// camera's projection for pose keypoints, and its description for projection textures.
// The only file that renders; it touches UnityEngine and hands plain data to the core.
using System;
using System.Collections.Generic;
using DccBridge.Core;
using UnityEditor;
using UnityEngine;
using UnityEngine.Rendering;

namespace DccBridge.Editor.Capture
{
    public static class CameraCapture
    {
        private const string DepthShaderName = "Hidden/DccBridge/LinearEyeDepth";

        /// <summary>The chosen camera, or a hidden copy of the Scene view's camera (never rendered in place).</summary>
        public static Camera Resolve(Camera chosen, bool useSceneView, out bool temporary)
        {
            temporary = false;
            if (!useSceneView && chosen != null) return chosen;
            var view = SceneView.lastActiveSceneView;
            if (view == null || view.camera == null)
            {
                if (chosen != null) return chosen;
                throw new InvalidOperationException("No Scene view is open and no camera is chosen.");
            }
            var go = new GameObject("DccBridge Capture Camera") { hideFlags = HideFlags.HideAndDontSave };
            var cam = go.AddComponent<Camera>();
            cam.CopyFrom(view.camera);
            cam.enabled = false;
            temporary = true;
            return cam;
        }

        public static void Release(Camera camera, bool temporary)
        {
            if (temporary && camera != null) UnityEngine.Object.DestroyImmediate(camera.gameObject);
        }

        /// <summary>Renders the camera's colour at width x height and returns a PNG (sRGB). camera.Render() is
        /// supported by Built-in, URP and HDRP for a camera with a targetTexture.</summary>
        public static byte[] RenderColorPng(Camera camera, int width, int height)
        {
            var rt = RenderTexture.GetTemporary(width, height, 24, RenderTextureFormat.ARGB32, RenderTextureReadWrite.sRGB);
            var previousTarget = camera.targetTexture;
            var previousActive = RenderTexture.active;
            try
            {
                camera.targetTexture = rt;
                camera.Render();
                RenderTexture.active = rt;
                var tex = new Texture2D(width, height, TextureFormat.RGBA32, false, false);
                tex.ReadPixels(new Rect(0, 0, width, height), 0, 0);
                tex.Apply();
                byte[] png = tex.EncodeToPNG();
                UnityEngine.Object.DestroyImmediate(tex);
                return png;
            }
            finally
            {
                camera.targetTexture = previousTarget;
                RenderTexture.active = previousActive;
                RenderTexture.ReleaseTemporary(rt);
            }
        }

        /// <summary>Linear eye depth (scene units along the view axis) at width x height in Unity's row order
        /// (row 0 = bottom); 0 where nothing was drawn. Draws every enabled MeshRenderer and SkinnedMeshRenderer
        /// in the camera's frustum and culling mask with our own depth shader through a CommandBuffer executed
        /// immediately — independent of the render pipeline. Terrain, particles and VFX are not drawn.</summary>
        public static float[] RenderLinearDepth(Camera camera, int width, int height)
        {
            var shader = Shader.Find(DepthShaderName);
            if (shader == null) throw new InvalidOperationException("Shader " + DepthShaderName + " is missing (reimport the package).");
            var material = new Material(shader) { hideFlags = HideFlags.HideAndDontSave };
            var desc = new RenderTextureDescriptor(width, height, RenderTextureFormat.RFloat, 24) { sRGB = false, msaaSamples = 1 };
            var rt = RenderTexture.GetTemporary(desc);
            var previousActive = RenderTexture.active;
            var cmd = new CommandBuffer { name = "DccBridge linear depth" };
            try
            {
                var aspectProjection = camera.projectionMatrix;
                if (!Mathf.Approximately(camera.aspect, (float)width / height))
                    aspectProjection = ProjectionFor(camera, width, height);
                cmd.SetRenderTarget(rt);
                cmd.ClearRenderTarget(true, true, Color.clear, 1f);
                cmd.SetGlobalMatrix("_DccBridgeView", camera.worldToCameraMatrix);
                cmd.SetGlobalMatrix("_DccBridgeGpuProj", GL.GetGPUProjectionMatrix(aspectProjection, true));
                var planes = GeometryUtility.CalculateFrustumPlanes(aspectProjection * camera.worldToCameraMatrix);
                foreach (var renderer in VisibleRenderers(camera, planes))
                {
                    int submeshes = SubmeshCount(renderer);
                    for (int i = 0; i < submeshes; i++) cmd.DrawRenderer(renderer, material, i, 0);
                }
                Graphics.ExecuteCommandBuffer(cmd);

                RenderTexture.active = rt;
                var tex = new Texture2D(width, height, TextureFormat.RFloat, false, true);
                tex.ReadPixels(new Rect(0, 0, width, height), 0, 0);
                tex.Apply();
                float[] values = tex.GetRawTextureData<float>().ToArray();   // row 0 = bottom
                UnityEngine.Object.DestroyImmediate(tex);
                return values;
            }
            finally
            {
                RenderTexture.active = previousActive;
                RenderTexture.ReleaseTemporary(rt);
                cmd.Release();
                UnityEngine.Object.DestroyImmediate(material);
            }
        }

        private static IEnumerable<Renderer> VisibleRenderers(Camera camera, Plane[] planes)
        {
            foreach (var renderer in UnityEngine.Object.FindObjectsOfType<Renderer>())
            {
                if (!renderer.enabled || !renderer.gameObject.activeInHierarchy) continue;
                if (!(renderer is MeshRenderer || renderer is SkinnedMeshRenderer)) continue;
                if ((camera.cullingMask & (1 << renderer.gameObject.layer)) == 0) continue;
                if (!GeometryUtility.TestPlanesAABB(planes, renderer.bounds)) continue;
                yield return renderer;
            }
        }

        private static int SubmeshCount(Renderer renderer)
        {
            var skinned = renderer as SkinnedMeshRenderer;
            if (skinned != null) return skinned.sharedMesh != null ? skinned.sharedMesh.subMeshCount : 0;
            var filter = renderer.GetComponent<MeshFilter>();
            return filter != null && filter.sharedMesh != null ? filter.sharedMesh.subMeshCount : 0;
        }

        /// <summary>The camera's projection at another aspect ratio (the capture size's).</summary>
        public static Matrix4x4 ProjectionFor(Camera camera, int width, int height)
        {
            float aspect = (float)width / height;
            if (camera.orthographic)
            {
                float h = camera.orthographicSize;
                return Matrix4x4.Ortho(-h * aspect, h * aspect, -h, h, camera.nearClipPlane, camera.farClipPlane);
            }
            return Matrix4x4.Perspective(camera.fieldOfView, aspect, camera.nearClipPlane, camera.farClipPlane);
        }

        /// <summary>The depth plane for the wire: background (0) becomes +inf; near/far from the camera.</summary>
        public static DepthPassData DepthPass(Camera camera, int width, int height)
        {
            float[] depth = RenderLinearDepth(camera, width, height);
            return DepthPlane.FromBottomFirst(depth, width, height, camera.nearClipPlane, camera.farClipPlane);
        }

        /// <summary>World → clip of the camera at the capture size, as plain row-major numbers for the core.</summary>
        public static CameraProjection Projection(Camera camera, int width, int height)
        {
            Matrix4x4 m = ProjectionFor(camera, width, height) * camera.worldToCameraMatrix;
            var values = new float[16];
            for (int row = 0; row < 4; row++)
                for (int col = 0; col < 4; col++)
                    values[row * 4 + col] = m[row, col];
            return new CameraProjection(values, width, height);
        }

        /// <summary>The camera for a projection texture: camera-to-world (Unity world, row-major), fov, clip range.</summary>
        public static CameraData Describe(Camera camera, int width, int height)
        {
            Matrix4x4 m = camera.transform.localToWorldMatrix;
            var data = new CameraData
            {
                Orthographic = camera.orthographic,
                FovYDegrees = camera.fieldOfView,
                OrthoHeight = camera.orthographicSize * 2f,
                Near = camera.nearClipPlane,
                Far = camera.farClipPlane,
                Width = width,
                Height = height,
                Host = "unity",
            };
            for (int row = 0; row < 4; row++)
                for (int col = 0; col < 4; col++)
                    data.CameraToWorld[row * 4 + col] = m[row, col];
            return data;
        }
    }
}
