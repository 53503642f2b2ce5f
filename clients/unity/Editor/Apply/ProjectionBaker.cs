// Projection from a camera: each target mesh gets a copy whose UV0 is the vertex's position in the capture
// camera's view (ProjectionUv in the core), saved as an asset next to the results and assigned with Undo.
// Pipeline-independent (no projector/decal component); faces the camera did not see get stretched texels.
using System.Collections.Generic;
using DccBridge.Core;
using UnityEditor;
using UnityEngine;

namespace DccBridge.Editor.Apply
{
    public static class ProjectionBaker
    {
        public static void BakeUvs(IEnumerable<Renderer> renderers, CameraProjection camera)
        {
            foreach (var renderer in renderers)
            {
                var filter = renderer.GetComponent<MeshFilter>();
                if (filter == null || filter.sharedMesh == null)
                {
                    Debug.LogWarning("DCC Bridge: " + renderer.name + " has no MeshFilter; projection UVs need a static mesh.", renderer);
                    continue;
                }
                var mesh = Object.Instantiate(filter.sharedMesh);
                mesh.name = filter.sharedMesh.name + " (projected)";
                var vertices = mesh.vertices;
                var uvs = new Vector2[vertices.Length];
                var toWorld = renderer.transform.localToWorldMatrix;
                for (int i = 0; i < vertices.Length; i++)
                {
                    Vector3 w = toWorld.MultiplyPoint3x4(vertices[i]);
                    float u, v;
                    uvs[i] = ProjectionUv.TryUv(camera, new Vec3(w.x, w.y, w.z), out u, out v) ? new Vector2(u, v) : Vector2.zero;
                }
                mesh.uv = uvs;
                string path = AssetDatabase.GenerateUniqueAssetPath(ResultImporter.Folder + "/" + mesh.name + ".asset");
                AssetDatabase.CreateAsset(mesh, path);
                Undo.RecordObject(filter, "Project DCC Bridge texture");
                filter.sharedMesh = mesh;
                PrefabUtility.RecordPrefabInstancePropertyModifications(filter);
            }
            AssetDatabase.SaveAssets();
        }
    }
}
