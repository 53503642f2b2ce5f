// Compile-only signature stubs of the part of the Unity API that clients/unity/Editor, Tests/Editor and the sample
// call, written from Unity 2021.3's scripting reference. tests/test_unity_core.py compiles the editor code against
// them with mcs: that checks the C# (types, overloads, name clashes such as UnityEngine.HumanBone), not that Unity
// behaves as assumed — only the editor can (Tests/Editor). Add a member here when the editor code uses a new one.
using System;
using System.Collections.Generic;
namespace Unity.Collections { public struct NativeArray<T> where T : struct { public T[] ToArray() { return null; } } }
namespace UnityEngine
{
    public enum HideFlags { None = 0, HideAndDontSave = 61 }
    public class Object
    {
        public string name { get; set; }
        public HideFlags hideFlags { get; set; }
        public static void DestroyImmediate(Object o) { }
        public static T[] FindObjectsOfType<T>() where T : Object { return null; }
        public static T Instantiate<T>(T o) where T : Object { return o; }
        public static implicit operator bool(Object o) { return o != null; }
    }
    public class Component : Object
    {
        public GameObject gameObject { get { return null; } }
        public Transform transform { get { return null; } }
        public T GetComponent<T>() { return default(T); }
        public T[] GetComponentsInChildren<T>() { return null; }
    }
    public class Behaviour : Component { public bool enabled { get; set; } public bool isActiveAndEnabled { get { return true; } } }
    public class Transform : Component
    {
        public Vector3 position { get; set; }
        public Quaternion rotation { get; set; }
        public Matrix4x4 localToWorldMatrix { get { return default(Matrix4x4); } }
    }
    public sealed class GameObject : Object
    {
        public GameObject(string name) { }
        public T AddComponent<T>() where T : Component { return null; }
        public T GetComponent<T>() { return default(T); }
        public T[] GetComponentsInChildren<T>() { return null; }
        public bool activeInHierarchy { get { return true; } }
        public int layer { get; set; }
        public Transform transform { get { return null; } }
        public static GameObject CreatePrimitive(PrimitiveType t) { return null; }
    }
    public enum PrimitiveType { Sphere, Capsule, Cylinder, Cube, Plane, Quad }
    public struct Vector2 { public float x, y; public Vector2(float x, float y) { this.x = x; this.y = y; } public static Vector2 zero { get { return default(Vector2); } } }
    public struct Vector3 { public float x, y, z; public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; } public static Vector3 zero { get { return default(Vector3); } } }
    public struct Quaternion { public static Quaternion identity { get { return default(Quaternion); } } public static Quaternion Euler(float x, float y, float z) { return default(Quaternion); } }
    public struct Rect { public Rect(float x, float y, float w, float h) { } }
    public struct Color
    {
        public float r, g, b, a;
        public Color(float r, float g, float b) { this.r = r; this.g = g; this.b = b; a = 1; }
        public Color(float r, float g, float b, float a) { this.r = r; this.g = g; this.b = b; this.a = a; }
        public static Color clear { get { return default(Color); } } public static Color white { get { return default(Color); } } public static Color red { get { return default(Color); } }
    }
    public struct Color32 { public byte r, g, b, a; }
    public struct Bounds { }
    public struct Plane { }
    public struct Matrix4x4
    {
        public float this[int row, int column] { get { return 0; } set { } }
        public static Matrix4x4 operator *(Matrix4x4 a, Matrix4x4 b) { return a; }
        public static Matrix4x4 Ortho(float l, float r, float b, float t, float n, float f) { return default(Matrix4x4); }
        public static Matrix4x4 Perspective(float fov, float aspect, float n, float f) { return default(Matrix4x4); }
        public Vector3 MultiplyPoint3x4(Vector3 p) { return p; }
    }
    public static class Mathf { public static bool Approximately(float a, float b) { return a == b; } }
    public static class GL { public static Matrix4x4 GetGPUProjectionMatrix(Matrix4x4 p, bool rt) { return p; } }
    public static class GeometryUtility
    {
        public static Plane[] CalculateFrustumPlanes(Matrix4x4 m) { return null; }
        public static bool TestPlanesAABB(Plane[] p, Bounds b) { return true; }
    }
    public static class Debug
    {
        public static void Log(object m) { } public static void LogWarning(object m) { } public static void LogWarning(object m, Object c) { }
        public static void LogError(object m) { } public static void LogException(Exception e) { }
    }
    public static class Application { public static string dataPath { get { return ""; } } }
    public class Camera : Behaviour
    {
        public void CopyFrom(Camera c) { }
        public RenderTexture targetTexture { get; set; }
        public void Render() { }
        public float aspect { get; set; }
        public Matrix4x4 projectionMatrix { get; set; }
        public Matrix4x4 worldToCameraMatrix { get; set; }
        public bool orthographic { get; set; }
        public float orthographicSize { get; set; }
        public float fieldOfView { get; set; }
        public float nearClipPlane { get; set; }
        public float farClipPlane { get; set; }
        public int cullingMask { get; set; }
        public Rect pixelRect { get; set; }
        public int pixelWidth { get { return 0; } }
        public int pixelHeight { get { return 0; } }
        public Vector3 WorldToScreenPoint(Vector3 p) { return p; }
    }
    public class Texture : Object { public int width { get { return 0; } } public int height { get { return 0; } } }
    public enum TextureFormat { RGBA32 = 4, RFloat = 18 }
    public enum TextureWrapMode { Repeat, Clamp }
    public sealed class Texture2D : Texture
    {
        public Texture2D(int w, int h) { }
        public Texture2D(int w, int h, TextureFormat f, bool mip) { }
        public Texture2D(int w, int h, TextureFormat f, bool mip, bool linear) { }
        public void ReadPixels(Rect r, int x, int y) { }
        public void Apply() { }
        public Unity.Collections.NativeArray<T> GetRawTextureData<T>() where T : struct { return default(Unity.Collections.NativeArray<T>); }
        public void SetPixelData<T>(T[] data, int mip, int start = 0) { }
        public Color32[] GetPixels32() { return null; }
        public void SetPixels(Color[] c) { }
    }
    public static class ImageConversion
    {
        public static byte[] EncodeToPNG(this Texture2D t) { return null; }
        public static bool LoadImage(this Texture2D t, byte[] data) { return true; }
    }
    public enum RenderTextureFormat { ARGB32 = 0, Depth = 1, RFloat = 14 }
    public enum RenderTextureReadWrite { Default, Linear, sRGB }
    public struct RenderTextureDescriptor
    {
        public RenderTextureDescriptor(int w, int h, RenderTextureFormat f, int depth) { sRGB = false; msaaSamples = 1; }
        public bool sRGB { get; set; }
        public int msaaSamples { get; set; }
    }
    public class RenderTexture : Texture
    {
        public static RenderTexture active { get; set; }
        public static RenderTexture GetTemporary(int w, int h, int d, RenderTextureFormat f, RenderTextureReadWrite rw) { return null; }
        public static RenderTexture GetTemporary(RenderTextureDescriptor d) { return null; }
        public static void ReleaseTemporary(RenderTexture t) { }
    }
    public class Shader : Object { public static Shader Find(string n) { return null; } }
    public class Material : Object
    {
        public Material(Shader s) { }
        public Shader shader { get; set; }
        public void SetTexture(string n, Texture t) { }
        public void SetFloat(string n, float v) { }
        public void SetColor(string n, Color c) { }
        public void EnableKeyword(string k) { }
    }
    public class Mesh : Object { public int subMeshCount { get { return 0; } } public Vector3[] vertices { get; set; } public Vector2[] uv { get; set; } }
    public class Renderer : Component
    {
        public bool enabled { get; set; }
        public Bounds bounds { get { return default(Bounds); } }
        public Material[] sharedMaterials { get; set; }
        public Material sharedMaterial { get; set; }
    }
    public class MeshRenderer : Renderer { }
    public class SkinnedMeshRenderer : Renderer { public Mesh sharedMesh { get; set; } }
    public class MeshFilter : Component { public Mesh sharedMesh { get; set; } }
    public static class Graphics
    {
        public static void ExecuteCommandBuffer(Rendering.CommandBuffer c) { }
        public static void Blit(Texture s, RenderTexture d) { }
    }
    public class Avatar : Object { public bool isHuman { get { return true; } } }
    public enum HumanBodyBones { Hips, LeftUpperLeg, RightUpperLeg, LeftLowerLeg, RightLowerLeg, LeftFoot, RightFoot, Spine, Chest, Neck, Head, LeftShoulder, RightShoulder, LeftUpperArm, RightUpperArm, LeftLowerArm, RightLowerArm, LeftHand, RightHand, LeftToes, RightToes, LeftEye, RightEye, Jaw, UpperChest = 54 }
    public struct HumanBone { }
    public class Animator : Behaviour { public Avatar avatar { get; set; } public Transform GetBoneTransform(HumanBodyBones b) { return null; } }
    public class SerializeField : Attribute { }
    public class GUILayoutOption { }
    public static class GUILayout
    {
        public static bool Button(string t, params GUILayoutOption[] o) { return false; }
        public static void Label(Texture t, params GUILayoutOption[] o) { }
        public static GUILayoutOption Width(float w) { return null; }
        public static GUILayoutOption MaxHeight(float w) { return null; }
        public static GUILayoutOption MaxWidth(float w) { return null; }
        public static int Toolbar(int selected, string[] texts, params GUILayoutOption[] o) { return selected; }
    }
    public class GUIStyle { }
    public static class GUI { public static bool changed { get; set; } }
}
namespace UnityEngine.SceneManagement
{
    public struct Scene { public string path { get { return ""; } } }
    public static class SceneManager { public static Scene GetActiveScene() { return default(Scene); } }
}
namespace UnityEditor.SceneManagement
{
    public static class EditorSceneManager
    {
        public static event System.Action<UnityEngine.SceneManagement.Scene, UnityEngine.SceneManagement.Scene> activeSceneChangedInEditMode;
        public static event System.Action<UnityEngine.SceneManagement.Scene> sceneSaved;
    }
}
namespace UnityEngine.Rendering
{
    public struct RenderTargetIdentifier { public static implicit operator RenderTargetIdentifier(RenderTexture t) { return default(RenderTargetIdentifier); } }
    public class CommandBuffer
    {
        public string name { get; set; }
        public void SetRenderTarget(RenderTargetIdentifier rt) { }
        public void ClearRenderTarget(bool d, bool c, Color bg, float depth = 1f) { }
        public void SetGlobalMatrix(string n, Matrix4x4 m) { }
        public void DrawRenderer(Renderer r, Material m, int sub = 0, int pass = -1) { }
        public void Release() { }
    }
    public class RenderPipelineAsset : ScriptableObjectStub { }
    public class ScriptableObjectStub : Object { }
    public static class GraphicsSettings { public static RenderPipelineAsset currentRenderPipeline { get { return null; } } }
}
namespace UnityEditor
{
    using UnityEngine;
    public class InitializeOnLoadAttribute : Attribute { }
    public class MenuItem : Attribute { public MenuItem(string p) { } }
    public class SceneView
    {
        public static SceneView lastActiveSceneView { get { return null; } } public Camera camera { get { return null; } }
        public static event Action<SceneView> duringSceneGui;
    }
    public struct ObjectChangeEventStream { public int length { get { return 0; } } }
    public static class ObjectChangeEvents
    {
        public delegate void ObjectChangeEventsHandler(ref ObjectChangeEventStream stream);
        public static event ObjectChangeEventsHandler changesPublished;
    }
    public class EditorWindow : ScriptableObjectBase
    {
        public static T GetWindow<T>(string title) where T : EditorWindow { return null; }
        public void Repaint() { }
    }
    public class ScriptableObjectBase : UnityEngine.Object { }
    public static class EditorJsonUtility
    {
        public static string ToJson(object o) { return "{}"; }
        public static void FromJsonOverwrite(string json, object o) { }
    }
    public static class EditorPrefs { public static string GetString(string k, string d) { return d; } public static void SetString(string k, string v) { } }
    public static class EditorApplication
    {
        public delegate void CallbackFunction();
        public static CallbackFunction update; public static CallbackFunction delayCall;
        public static event Action hierarchyChanged;
        public static double timeSinceStartup { get { return 0; } }
    }
    public static class AssemblyReloadEvents { public delegate void AssemblyReloadCallback(); public static event AssemblyReloadCallback beforeAssemblyReload; }
    public static class EditorUtility { public static bool DisplayDialog(string t, string m, string ok) { return true; } }
    public static class EditorGUIUtility { public static void PingObject(UnityEngine.Object o) { } }
    public static class EditorStyles { public static GUIStyle boldLabel, wordWrappedMiniLabel, wordWrappedLabel; }
    public static class EditorGUI
    {
        public class DisabledScope : IDisposable { public DisabledScope(bool d) { } public void Dispose() { } }
        public class IndentLevelScope : IDisposable { public IndentLevelScope() { } public void Dispose() { } }
    }
    public enum MessageType { None, Info, Warning, Error }
    public static class EditorGUILayout
    {
        public class HorizontalScope : IDisposable { public HorizontalScope(params GUILayoutOption[] o) { } public void Dispose() { } }
        public class VerticalScope : IDisposable { public VerticalScope(params GUILayoutOption[] o) { } public void Dispose() { } }
        public static void LabelField(string l, params GUILayoutOption[] o) { }
        public static void LabelField(string l, GUIStyle s, params GUILayoutOption[] o) { }
        public static string TextField(string l, string t, params GUILayoutOption[] o) { return t; }
        public static string PasswordField(string l, string t, params GUILayoutOption[] o) { return t; }
        public static int IntField(string l, int v, params GUILayoutOption[] o) { return v; }
        public static int IntField(int v, params GUILayoutOption[] o) { return v; }
        public static long LongField(string l, long v, params GUILayoutOption[] o) { return v; }
        public static int IntSlider(string l, int v, int a, int b, params GUILayoutOption[] o) { return v; }
        public static float Slider(string l, float v, float a, float b, params GUILayoutOption[] o) { return v; }
        public static float Slider(float v, float a, float b, params GUILayoutOption[] o) { return v; }
        public static bool Toggle(string l, bool v, params GUILayoutOption[] o) { return v; }
        public static bool ToggleLeft(string l, bool v, params GUILayoutOption[] o) { return v; }
        public static int Popup(string l, int i, string[] opts, params GUILayoutOption[] o) { return i; }
        public static Enum EnumPopup(string l, Enum e, params GUILayoutOption[] o) { return e; }
        public static UnityEngine.Object ObjectField(string l, UnityEngine.Object o, Type t, bool scene, params GUILayoutOption[] opts) { return o; }
        public static void Space() { }
        public static void HelpBox(string message, MessageType type) { }
        public static Vector2 BeginScrollView(Vector2 v, params GUILayoutOption[] o) { return v; }
        public static void EndScrollView() { }
    }
    public static class AssetDatabase
    {
        public static void Refresh() { }
        public static T LoadAssetAtPath<T>(string p) where T : UnityEngine.Object { return null; }
        public static void ImportAsset(string p) { }
        public static string GetAssetPath(UnityEngine.Object o) { return ""; }
        public static void CreateAsset(UnityEngine.Object o, string p) { }
        public static void SaveAssets() { }
        public static string GenerateUniqueAssetPath(string p) { return p; }
        public static bool DeleteAsset(string p) { return true; }
        public static string AssetPathToGUID(string p) { return ""; }
    }
    public class AssetImporter : UnityEngine.Object { public static AssetImporter GetAtPath(string p) { return null; } public void SaveAndReimport() { } }
    public enum TextureImporterType { Default = 0, NormalMap = 1 }
    public enum TextureImporterAlphaSource { None, FromInput, FromGrayScale }
    public class TextureImporter : AssetImporter
    {
        public TextureImporterType textureType { get; set; }
        public bool sRGBTexture { get; set; }
        public TextureWrapMode wrapMode { get; set; }
        public bool mipmapEnabled { get; set; }
        public TextureImporterAlphaSource alphaSource { get; set; }
        public bool isReadable { get; set; }
        public bool alphaIsTransparency { get; set; }
    }
    public static class Undo
    {
        public static void RecordObjects(UnityEngine.Object[] o, string n) { }
        public static void RecordObject(UnityEngine.Object o, string n) { }
        public static void PerformUndo() { }
        public delegate void UndoRedoCallback();
        public static UndoRedoCallback undoRedoPerformed;
    }
    public static class PrefabUtility { public static void RecordPrefabInstancePropertyModifications(UnityEngine.Object o) { } }
    public static class Selection { public static UnityEngine.Object activeObject { get; set; } public static GameObject[] gameObjects { get { return null; } } }
    public struct GlobalObjectId
    {
        public static GlobalObjectId GetGlobalObjectIdSlow(UnityEngine.Object o) { return default(GlobalObjectId); }
        public static bool TryParse(string s, out GlobalObjectId id) { id = default(GlobalObjectId); return true; }
        public static UnityEngine.Object GlobalObjectIdentifierToObjectSlow(GlobalObjectId id) { return null; }
    }
    public static class Progress
    {
        public enum Status { Running, Succeeded, Failed, Canceled, Paused }
        public static int Start(string n, string d = null) { return 0; }
        public static void RegisterCancelCallback(int id, Func<bool> c) { }
        public static void Report(int id, float p, string d) { }
        public static void Finish(int id, Status s = Status.Succeeded) { }
        public static int Remove(int id) { return 0; }
    }
}
