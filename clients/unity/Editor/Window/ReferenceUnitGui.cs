// The window's Reference (IP-Adapter) row: a Texture2D as the image prompt, the model's IP-Adapter and its weight.
// Kept with the window's settings ([Serializable]); the unit is built through the core (ControlUnitSpec.ReferenceFrom)
// and the texture read through Capture (TextureCapture.EncodePng), like the other units.
using System;
using DccBridge.Core;
using DccBridge.Editor.Capture;
using UnityEditor;
using UnityEngine;

namespace DccBridge.Editor
{
    [Serializable]
    public sealed class ReferenceUnitGui
    {
        public bool Enabled;
        public Texture2D Texture;
        public string AdapterId = "";
        public float Weight = 0.8f;

        public void Draw(Capabilities caps, string modelId)
        {
            using (new EditorGUILayout.HorizontalScope())
            {
                Enabled = EditorGUILayout.ToggleLeft("Reference (IP-Adapter image)", Enabled);
                using (new EditorGUI.DisabledScope(!Enabled)) Weight = EditorGUILayout.Slider(Weight, 0f, 2f, GUILayout.Width(160));
            }
            if (!Enabled) return;
            using (new EditorGUI.IndentLevelScope())
            {
                Texture = (Texture2D)EditorGUILayout.ObjectField("Texture", Texture, typeof(Texture2D), false);
                if (caps == null)
                {
                    AdapterId = EditorGUILayout.TextField("IP-Adapter (empty = default)", AdapterId);
                    return;
                }
                if (!ReferenceMenu.Offered(caps, modelId))
                {
                    EditorGUILayout.HelpBox("This model has no IP-Adapter on the server: the reference is not sent.", MessageType.Warning);
                    return;
                }
                var options = ReferenceMenu.Options(caps, modelId);
                int index = Math.Max(0, Array.IndexOf(options.Key, AdapterId));
                AdapterId = options.Key[EditorGUILayout.Popup("IP-Adapter", index, options.Value)];
            }
        }

        /// <summary>The unit to send, or null when the row is off; a missing texture stops the job with why.</summary>
        public ControlUnitSpec Unit()
        {
            if (!Enabled) return null;
            if (Texture == null) throw new InvalidOperationException("Reference: choose a Texture2D (or turn the reference off).");
            return ControlUnitSpec.ReferenceFrom(TextureCapture.EncodePng(Texture), AdapterId, Weight);
        }
    }
}
