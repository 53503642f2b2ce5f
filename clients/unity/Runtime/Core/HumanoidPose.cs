// Humanoid skeleton → OpenPose COCO-18 keypoints, as pure functions of plain data: bone world positions
// (what Animator.GetBoneTransform(HumanBodyBones.X).position gives) and a camera projection (what
// camera.projectionMatrix * camera.worldToCameraMatrix and the capture size give).
using System;
using System.Collections.Generic;

namespace DccBridge.Core
{
    /// <summary>The subset of UnityEngine.HumanBodyBones the mapping reads; same names (the editor maps by name).</summary>
    public enum HumanoidBone
    {
        Hips, LeftUpperLeg, RightUpperLeg, LeftLowerLeg, RightLowerLeg, LeftFoot, RightFoot,
        Spine, Chest, UpperChest, Neck, Head, LeftShoulder, RightShoulder,
        LeftUpperArm, RightUpperArm, LeftLowerArm, RightLowerArm, LeftHand, RightHand,
        LeftEye, RightEye, Jaw,
    }

    public struct Vec3
    {
        public float X, Y, Z;
        public Vec3(float x, float y, float z) { X = x; Y = y; Z = z; }
        public static Vec3 operator +(Vec3 a, Vec3 b) { return new Vec3(a.X + b.X, a.Y + b.Y, a.Z + b.Z); }
        public static Vec3 operator -(Vec3 a, Vec3 b) { return new Vec3(a.X - b.X, a.Y - b.Y, a.Z - b.Z); }
        public static Vec3 operator *(Vec3 a, float s) { return new Vec3(a.X * s, a.Y * s, a.Z * s); }
        public float Length { get { return (float)Math.Sqrt(X * X + Y * Y + Z * Z); } }
        public Vec3 Normalized { get { float l = Length; return l > 1e-8f ? this * (1f / l) : new Vec3(0, 0, 0); } }
        public static Vec3 Mid(Vec3 a, Vec3 b) { return (a + b) * 0.5f; }
        public static float Dot(Vec3 a, Vec3 b) { return a.X * b.X + a.Y * b.Y + a.Z * b.Z; }
        /// <summary>Same formula as UnityEngine.Vector3.Cross (in Unity's left-handed world, Cross(up, forward) = right).</summary>
        public static Vec3 Cross(Vec3 a, Vec3 b)
        { return new Vec3(a.Y * b.Z - a.Z * b.Y, a.Z * b.X - a.X * b.Z, a.X * b.Y - a.Y * b.X); }
        public override string ToString() { return "(" + X + ", " + Y + ", " + Z + ")"; }
    }

    /// <summary>A camera as plain data: world → clip (row-major 4x4, OpenGL-style clip space as Unity's
    /// camera.projectionMatrix * camera.worldToCameraMatrix) and the pixel size of the capture.</summary>
    public sealed class CameraProjection
    {
        public float[] WorldToClip;   // 16 values, row-major: clip = M * (x, y, z, 1)
        public int PixelWidth, PixelHeight;

        public CameraProjection(float[] worldToClipRowMajor, int pixelWidth, int pixelHeight)
        {
            if (worldToClipRowMajor == null || worldToClipRowMajor.Length != 16) throw new ArgumentException("worldToClip needs 16 values");
            if (pixelWidth <= 0 || pixelHeight <= 0) throw new ArgumentException("pixel size must be positive");
            WorldToClip = worldToClipRowMajor;
            PixelWidth = pixelWidth;
            PixelHeight = pixelHeight;
        }

        /// <summary>A perspective camera in Unity's conventions (left-handed world, camera looks along +forward;
        /// its view space looks down -Z like worldToCameraMatrix; GL projection like projectionMatrix).</summary>
        public static CameraProjection Perspective(Vec3 position, Vec3 forward, Vec3 up, float fovYDegrees,
                                                   float near, float far, int pixelWidth, int pixelHeight)
        {
            Vec3 f = forward.Normalized;
            Vec3 r = Vec3.Cross(up, f).Normalized;
            Vec3 u = Vec3.Cross(f, r);
            // view: x = r·(p-c), y = u·(p-c), z = -f·(p-c)
            var view = new double[]
            {
                r.X, r.Y, r.Z, -Vec3.Dot(r, position),
                u.X, u.Y, u.Z, -Vec3.Dot(u, position),
                -f.X, -f.Y, -f.Z, Vec3.Dot(f, position),
                0, 0, 0, 1,
            };
            double aspect = (double)pixelWidth / pixelHeight;
            double cot = 1.0 / Math.Tan(fovYDegrees * Math.PI / 360.0);
            var proj = new double[]
            {
                cot / aspect, 0, 0, 0,
                0, cot, 0, 0,
                0, 0, -(far + near) / (far - near), -2.0 * far * near / (far - near),
                0, 0, -1, 0,
            };
            var m = new float[16];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                {
                    double s = 0;
                    for (int k = 0; k < 4; k++) s += proj[i * 4 + k] * view[k * 4 + j];
                    m[i * 4 + j] = (float)s;
                }
            return new CameraProjection(m, pixelWidth, pixelHeight);
        }

        /// <summary>Camera.WorldToScreenPoint (origin bottom-left) then y flipped to OpenPose's top-left origin.
        /// False when the point is behind the camera (or on its plane).</summary>
        public bool TryProject(Vec3 p, out float x, out float yTop)
        {
            float[] m = WorldToClip;
            double cx = m[0] * p.X + m[1] * p.Y + m[2] * p.Z + m[3];
            double cy = m[4] * p.X + m[5] * p.Y + m[6] * p.Z + m[7];
            double cw = m[12] * p.X + m[13] * p.Y + m[14] * p.Z + m[15];
            x = 0; yTop = 0;
            if (cw <= 1e-6) return false;
            double sx = (cx / cw + 1.0) * 0.5 * PixelWidth;
            double sy = (cy / cw + 1.0) * 0.5 * PixelHeight;   // Unity screen space: y up from the bottom
            x = (float)sx;
            yTop = (float)(PixelHeight - sy);
            return true;
        }
    }

    public static class ProjectionUv
    {
        /// <summary>The UV a vertex gets when a texture made for this camera's view is projected onto it:
        /// its viewport position (Unity UVs: origin bottom-left). False when it is behind the camera.</summary>
        public static bool TryUv(CameraProjection camera, Vec3 world, out float u, out float v)
        {
            float x, yTop;
            u = 0; v = 0;
            if (!camera.TryProject(world, out x, out yTop)) return false;
            u = x / camera.PixelWidth;
            v = 1f - yTop / camera.PixelHeight;
            return true;
        }
    }

    public static class HumanoidPose
    {
        public const int KeypointCount = 18;

        public static readonly string[] Coco18Names =
        {
            "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
            "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
            "right_eye", "left_eye", "right_ear", "left_ear",
        };

        /// <summary>Keypoints read straight from one bone (index → bone); the rest are derived (see docs/unity.md).</summary>
        public static readonly KeyValuePair<int, HumanoidBone>[] DirectBones =
        {
            new KeyValuePair<int, HumanoidBone>(2, HumanoidBone.RightUpperArm),
            new KeyValuePair<int, HumanoidBone>(3, HumanoidBone.RightLowerArm),
            new KeyValuePair<int, HumanoidBone>(4, HumanoidBone.RightHand),
            new KeyValuePair<int, HumanoidBone>(5, HumanoidBone.LeftUpperArm),
            new KeyValuePair<int, HumanoidBone>(6, HumanoidBone.LeftLowerArm),
            new KeyValuePair<int, HumanoidBone>(7, HumanoidBone.LeftHand),
            new KeyValuePair<int, HumanoidBone>(8, HumanoidBone.RightUpperLeg),
            new KeyValuePair<int, HumanoidBone>(9, HumanoidBone.RightLowerLeg),
            new KeyValuePair<int, HumanoidBone>(10, HumanoidBone.RightFoot),
            new KeyValuePair<int, HumanoidBone>(11, HumanoidBone.LeftUpperLeg),
            new KeyValuePair<int, HumanoidBone>(12, HumanoidBone.LeftLowerLeg),
            new KeyValuePair<int, HumanoidBone>(13, HumanoidBone.LeftFoot),
            new KeyValuePair<int, HumanoidBone>(14, HumanoidBone.RightEye),
            new KeyValuePair<int, HumanoidBone>(15, HumanoidBone.LeftEye),
        };

        /// <summary>The 18 COCO points in world space; null where the skeleton cannot give one.
        /// neck = midpoint of the shoulders (UpperArm bones; the Neck bone if one is missing); eyes from the
        /// eye bones, else estimated from Head; nose and ears estimated from the eyes and the body's frame
        /// (up = hips → shoulders, right = left → right shoulder, forward = right × up).</summary>
        public static Vec3?[] WorldKeypoints(IDictionary<HumanoidBone, Vec3> bones)
        {
            var p = new Vec3?[KeypointCount];
            foreach (var pair in DirectBones) p[pair.Key] = Get(bones, pair.Value);

            Vec3? lShoulder = Get(bones, HumanoidBone.LeftUpperArm), rShoulder = Get(bones, HumanoidBone.RightUpperArm);
            Vec3? lHip = Get(bones, HumanoidBone.LeftUpperLeg), rHip = Get(bones, HumanoidBone.RightUpperLeg);
            Vec3? head = Get(bones, HumanoidBone.Head);
            p[1] = lShoulder.HasValue && rShoulder.HasValue ? Vec3.Mid(lShoulder.Value, rShoulder.Value) : Get(bones, HumanoidBone.Neck);

            // The body's frame.
            Vec3? pelvis = lHip.HasValue && rHip.HasValue ? Vec3.Mid(lHip.Value, rHip.Value) : Get(bones, HumanoidBone.Hips);
            Vec3? top = p[1] ?? head;
            if (!pelvis.HasValue || !top.HasValue) return p;
            Vec3 up = (top.Value - pelvis.Value).Normalized;
            Vec3 right;
            if (lShoulder.HasValue && rShoulder.HasValue) right = (rShoulder.Value - lShoulder.Value).Normalized;
            else if (lHip.HasValue && rHip.HasValue) right = (rHip.Value - lHip.Value).Normalized;
            else return p;
            Vec3 forward = Vec3.Cross(right, up).Normalized;

            // u: the eye span, the head's unit of length.
            Vec3? lEye = p[15], rEye = p[14];
            float unit;
            if (lEye.HasValue && rEye.HasValue) unit = (lEye.Value - rEye.Value).Length;
            else if (lShoulder.HasValue && rShoulder.HasValue) unit = 0.2f * (rShoulder.Value - lShoulder.Value).Length;
            else return p;
            if (unit <= 1e-6f) return p;

            Vec3 eyeMid;
            if (lEye.HasValue && rEye.HasValue) eyeMid = Vec3.Mid(lEye.Value, rEye.Value);
            else if (head.HasValue)
            {
                eyeMid = head.Value + up * (1.4f * unit) + forward * (1.3f * unit);
                if (!rEye.HasValue) p[14] = eyeMid + right * (0.5f * unit);
                if (!lEye.HasValue) p[15] = eyeMid - right * (0.5f * unit);
            }
            else return p;
            p[0] = eyeMid - up * (0.6f * unit) + forward * (0.5f * unit);
            Vec3 back = eyeMid - forward * (1.4f * unit) - up * (0.2f * unit);
            p[16] = back + right * (1.15f * unit);
            p[17] = back - right * (1.15f * unit);
            return p;
        }

        /// <summary>Projects one character: behind the camera, off the canvas or not mappable → invisible.</summary>
        public static Keypoint[] ToCoco18(IDictionary<HumanoidBone, Vec3> bones, CameraProjection camera)
        {
            var world = WorldKeypoints(bones);
            var result = new Keypoint[KeypointCount];
            for (int i = 0; i < KeypointCount; i++)
            {
                float x, y;
                if (world[i].HasValue && camera.TryProject(world[i].Value, out x, out y) &&
                    x >= 0 && x <= camera.PixelWidth && y >= 0 && y <= camera.PixelHeight)
                    result[i] = new Keypoint(x, y, true);
                else
                    result[i] = new Keypoint(0, 0, false);
            }
            return result;
        }

        /// <summary>Several characters = several people; characters with no visible keypoint are left out.</summary>
        public static PoseRigData Rig(IEnumerable<IDictionary<HumanoidBone, Vec3>> characters, CameraProjection camera)
        {
            var rig = new PoseRigData { CanvasWidth = camera.PixelWidth, CanvasHeight = camera.PixelHeight };
            foreach (var bones in characters)
            {
                var person = ToCoco18(bones, camera);
                bool any = false;
                foreach (var k in person) any |= k.Visible;
                if (any) rig.People.Add(person);
            }
            return rig;
        }

        private static Vec3? Get(IDictionary<HumanoidBone, Vec3> bones, HumanoidBone bone)
        {
            Vec3 v;
            return bones.TryGetValue(bone, out v) ? v : (Vec3?)null;
        }
    }
}
