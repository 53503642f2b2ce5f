// Humanoid characters → bone world positions (plain data for the core's COCO-18 mapping).
using System;
using System.Collections.Generic;
using DccBridge.Core;
using UnityEngine;

namespace DccBridge.Editor.Capture
{
    public static class HumanoidCapture
    {
        /// <summary>Humanoid Animators: the selected ones if any are selected, else every active one in the open scenes.</summary>
        public static List<Animator> FindCharacters(IEnumerable<GameObject> selection)
        {
            var found = new List<Animator>();
            foreach (var go in selection)
                foreach (var a in go.GetComponentsInChildren<Animator>())
                    if (IsHumanoid(a) && !found.Contains(a)) found.Add(a);
            if (found.Count > 0) return found;
            foreach (var a in UnityEngine.Object.FindObjectsOfType<Animator>())
                if (IsHumanoid(a)) found.Add(a);
            return found;
        }

        private static bool IsHumanoid(Animator a)
        {
            return a != null && a.isActiveAndEnabled && a.avatar != null && a.avatar.isHuman;
        }

        /// <summary>Animator.GetBoneTransform(HumanBodyBones.X).position for every bone the mapping reads.
        /// Bones the avatar lacks (eyes, neck, upper chest are optional) are left out.</summary>
        public static Dictionary<HumanoidBone, Vec3> Bones(Animator animator)
        {
            var bones = new Dictionary<HumanoidBone, Vec3>();
            foreach (HumanoidBone bone in Enum.GetValues(typeof(HumanoidBone)))
            {
                var unityBone = (HumanBodyBones)Enum.Parse(typeof(HumanBodyBones), bone.ToString());
                Transform t = animator.GetBoneTransform(unityBone);
                if (t == null) continue;
                Vector3 p = t.position;
                bones[bone] = new Vec3(p.x, p.y, p.z);
            }
            return bones;
        }

        public static PoseRigData Rig(IEnumerable<Animator> characters, CameraProjection projection)
        {
            var all = new List<IDictionary<HumanoidBone, Vec3>>();
            foreach (var a in characters) all.Add(Bones(a));
            return HumanoidPose.Rig(all, projection);
        }
    }
}
