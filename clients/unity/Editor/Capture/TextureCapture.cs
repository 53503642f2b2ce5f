// A Texture2D asset → PNG bytes, readable or not (blitted through a temporary RenderTexture).
using UnityEngine;

namespace DccBridge.Editor.Capture
{
    public static class TextureCapture
    {
        public static byte[] EncodePng(Texture texture)
        {
            var rt = RenderTexture.GetTemporary(texture.width, texture.height, 0, RenderTextureFormat.ARGB32, RenderTextureReadWrite.sRGB);
            var previous = RenderTexture.active;
            try
            {
                Graphics.Blit(texture, rt);
                RenderTexture.active = rt;
                var copy = new Texture2D(texture.width, texture.height, TextureFormat.RGBA32, false, false);
                copy.ReadPixels(new Rect(0, 0, texture.width, texture.height), 0, 0);
                copy.Apply();
                byte[] png = copy.EncodeToPNG();
                Object.DestroyImmediate(copy);
                return png;
            }
            finally
            {
                RenderTexture.active = previous;
                RenderTexture.ReleaseTemporary(rt);
            }
        }
    }
}
