// The window's "Restore faces" controls: a toggle, the restorer (from the server's capabilities, labelled with its
// licence) and the blend strength. Generate and Upscale send them as FaceRestorationSpec (Runtime/Core).
using System;
using System.Linq;
using DccBridge.Core;
using UnityEditor;
using UnityEngine;

namespace DccBridge.Editor
{
    public sealed partial class DccBridgeWindow
    {
        [SerializeField] private bool _restoreFaces;
        [SerializeField] private string _faceRestorer = "";
        [SerializeField] private float _faceStrength = 1f;

        private void DrawRestoreFaces()
        {
            _restoreFaces = EditorGUILayout.Toggle("Restore faces", _restoreFaces);
            using (new EditorGUI.DisabledScope(!_restoreFaces))
            {
                var restorers = _caps != null ? _caps.Restorers : null;
                if (restorers != null && restorers.Count > 0)
                {
                    var ids = new[] { "" }.Concat(restorers.Select(r => r.Id)).ToArray();
                    var labels = new[] { "Server default" }.Concat(restorers.Select(r => r.Label)).ToArray();
                    int index = Math.Max(0, Array.IndexOf(ids, _faceRestorer));
                    _faceRestorer = ids[EditorGUILayout.Popup("Restorer", index, labels)];
                }
                else _faceRestorer = EditorGUILayout.TextField("Restorer (empty = default)", _faceRestorer);
                _faceStrength = EditorGUILayout.Slider("Face strength", _faceStrength, 0f, 1f);
            }
        }

        private FaceRestorationSpec FaceOption()
        {
            return FaceRestorationSpec.FromToggle(_restoreFaces, _faceRestorer, _faceStrength);
        }
    }
}
