// Depth plane encoding: Unity textures are stored bottom row first; the wire wants top row first,
// little-endian float32 (DepthPass.float32_le, DEPTH_ENCODING_LINEAR with near/far).
using System;

namespace DccBridge.Core
{
    public static class DepthPlane
    {
        /// <summary>Builds a LINEAR depth pass from linear eye depth in Unity's row order (row 0 = bottom, as
        /// Texture2D.GetPixels / GetRawTextureData return it). Cleared pixels (&lt;= 0) and non-finite values
        /// become +infinity, the background; values &gt;= far are background on the server too.</summary>
        public static DepthPassData FromBottomFirst(float[] eyeDepth, int width, int height, float near, float far)
        {
            if (width <= 0 || height <= 0) throw new ArgumentException("depth size must be positive, got " + width + "x" + height);
            if (eyeDepth == null || eyeDepth.Length != width * height)
                throw new ArgumentException("depth needs width*height = " + (width * height) + " values, got " +
                                            (eyeDepth == null ? 0 : eyeDepth.Length));
            if (!(far > near) || near < 0) throw new ArgumentException("depth needs 0 <= near < far, got near=" + near + " far=" + far);
            return new DepthPassData
            {
                Float32Le = EncodeTopFirst(eyeDepth, width, height),
                Width = width,
                Height = height,
                Encoding = DepthEncoding.Linear,
                Near = near,
                Far = far,
            };
        }

        /// <summary>Flips rows (bottom-first → top-first) and writes little-endian float32, background → +inf.</summary>
        public static byte[] EncodeTopFirst(float[] bottomFirst, int width, int height)
        {
            var bytes = new byte[width * height * 4];
            for (int row = 0; row < height; row++)
            {
                int src = (height - 1 - row) * width;   // Unity's row (height-1-row) is the wire's row `row`
                int dst = row * width * 4;
                for (int x = 0; x < width; x++)
                {
                    float v = bottomFirst[src + x];
                    if (float.IsNaN(v) || float.IsInfinity(v) || v <= 0f) v = float.PositiveInfinity;
                    WriteFloatLe(bytes, dst + x * 4, v);
                }
            }
            return bytes;
        }

        /// <summary>Reads a float32_le plane back (top row first), e.g. for previews and tests.</summary>
        public static float[] DecodeTopFirst(byte[] bytes, int width, int height)
        {
            if (bytes.Length != width * height * 4) throw new ArgumentException("expected " + (width * height * 4) + " bytes, got " + bytes.Length);
            var values = new float[width * height];
            var tmp = new byte[4];
            for (int i = 0; i < values.Length; i++)
            {
                Buffer.BlockCopy(bytes, i * 4, tmp, 0, 4);
                if (!BitConverter.IsLittleEndian) Array.Reverse(tmp);
                values[i] = BitConverter.ToSingle(tmp, 0);
            }
            return values;
        }

        private static void WriteFloatLe(byte[] dst, int offset, float v)
        {
            byte[] b = BitConverter.GetBytes(v);
            if (!BitConverter.IsLittleEndian) Array.Reverse(b);
            Buffer.BlockCopy(b, 0, dst, offset, 4);
        }

        /// <summary>Linear eye depth from a raw (non-linear) perspective depth-buffer value in [0, 1], as Unity's
        /// LinearEyeDepth does; reversedZ for D3D11/12, Metal, Vulkan, consoles (SystemInfo.usesReversedZBuffer).
        /// Used when a pipeline hands out its depth buffer instead of our linear-depth render.</summary>
        public static float LinearEyeDepth(float raw, float near, float far, bool reversedZ)
        {
            double z = reversedZ ? 1.0 - raw : raw;          // 0 = near, 1 = far
            // OpenGL-style [0,1] depth: z = (1/near - 1/d) / (1/near - 1/far)
            double inv = 1.0 / near - z * (1.0 / near - 1.0 / far);
            return inv <= 0 ? float.PositiveInfinity : (float)(1.0 / inv);
        }
    }
}
