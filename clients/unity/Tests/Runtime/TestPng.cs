// A minimal PNG reader for tests (8-bit gray/RGB/RGBA, non-interlaced): enough to look at the control maps
// the server draws, without System.Drawing or UnityEngine.
using System;
using System.IO;
using System.IO.Compression;

namespace DccBridge.Tests
{
    public sealed class TestPng
    {
        public int Width, Height, Channels;
        public byte[] Pixels;   // top row first, Channels bytes per pixel

        public byte[] At(int x, int y)
        {
            var p = new byte[Channels];
            Array.Copy(Pixels, (y * Width + x) * Channels, p, 0, Channels);
            return p;
        }

        public bool IsDark(int x, int y, int radius = 0, int threshold = 16)
        {
            for (int dy = -radius; dy <= radius; dy++)
                for (int dx = -radius; dx <= radius; dx++)
                {
                    int xx = Math.Max(0, Math.Min(Width - 1, x + dx)), yy = Math.Max(0, Math.Min(Height - 1, y + dy));
                    foreach (var c in At(xx, yy)) if (c > threshold) return false;
                }
            return true;
        }

        public static TestPng Decode(byte[] png)
        {
            if (png.Length < 8 || png[0] != 0x89 || png[1] != (byte)'P') throw new FormatException("not a PNG");
            int pos = 8, width = 0, height = 0, depth = 0, type = 0;
            var idat = new MemoryStream();
            while (pos < png.Length)
            {
                int length = (png[pos] << 24) | (png[pos + 1] << 16) | (png[pos + 2] << 8) | png[pos + 3];
                string kind = System.Text.Encoding.ASCII.GetString(png, pos + 4, 4);
                int data = pos + 8;
                if (kind == "IHDR")
                {
                    width = (png[data] << 24) | (png[data + 1] << 16) | (png[data + 2] << 8) | png[data + 3];
                    height = (png[data + 4] << 24) | (png[data + 5] << 16) | (png[data + 6] << 8) | png[data + 7];
                    depth = png[data + 8]; type = png[data + 9];
                    if (png[data + 12] != 0) throw new FormatException("interlaced PNGs are not supported here");
                }
                else if (kind == "IDAT") idat.Write(png, data, length);
                else if (kind == "IEND") break;
                pos = data + length + 4;
            }
            if (depth != 8) throw new FormatException("only 8-bit PNGs, got " + depth);
            int channels = type == 0 ? 1 : type == 2 ? 3 : type == 4 ? 2 : type == 6 ? 4 : 0;
            if (channels == 0) throw new FormatException("PNG colour type " + type + " is not supported here");
            idat.Position = 2;   // zlib header
            var raw = new MemoryStream();
            using (var inflate = new DeflateStream(idat, CompressionMode.Decompress)) inflate.CopyTo(raw);
            byte[] f = raw.ToArray();
            int stride = width * channels;
            var pixels = new byte[height * stride];
            for (int y = 0; y < height; y++)
            {
                int filter = f[y * (stride + 1)];
                int src = y * (stride + 1) + 1, dst = y * stride;
                for (int i = 0; i < stride; i++)
                {
                    int a = i >= channels ? pixels[dst + i - channels] : 0;
                    int b = y > 0 ? pixels[dst - stride + i] : 0;
                    int c = y > 0 && i >= channels ? pixels[dst - stride + i - channels] : 0;
                    int x = f[src + i], value;
                    switch (filter)
                    {
                        case 0: value = x; break;
                        case 1: value = x + a; break;
                        case 2: value = x + b; break;
                        case 3: value = x + ((a + b) >> 1); break;
                        case 4:
                            int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
                            value = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
                            break;
                        default: throw new FormatException("bad PNG filter " + filter);
                    }
                    pixels[dst + i] = (byte)value;
                }
            }
            return new TestPng { Width = width, Height = height, Channels = channels, Pixels = pixels };
        }

        /// <summary>An 8-bit RGB PNG (filter 0, zlib) from top-row-first pixels: inputs for the server in tests.</summary>
        public static byte[] EncodeRgb(int width, int height, Func<int, int, byte[]> pixel)
        {
            var raw = new MemoryStream();
            for (int y = 0; y < height; y++)
            {
                raw.WriteByte(0);
                for (int x = 0; x < width; x++) raw.Write(pixel(x, y), 0, 3);
            }
            byte[] plain = raw.ToArray();
            var z = new MemoryStream();
            z.WriteByte(0x78); z.WriteByte(0x01);
            using (var deflate = new DeflateStream(z, CompressionMode.Compress, true)) deflate.Write(plain, 0, plain.Length);
            uint a = 1, b = 0;
            foreach (byte v in plain) { a = (a + v) % 65521; b = (b + a) % 65521; }
            WriteBigEndian(z, (b << 16) | a);
            var png = new MemoryStream();
            png.Write(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10 }, 0, 8);
            var ihdr = new MemoryStream();
            WriteBigEndian(ihdr, (uint)width); WriteBigEndian(ihdr, (uint)height);
            ihdr.Write(new byte[] { 8, 2, 0, 0, 0 }, 0, 5);
            Chunk(png, "IHDR", ihdr.ToArray());
            Chunk(png, "IDAT", z.ToArray());
            Chunk(png, "IEND", new byte[0]);
            return png.ToArray();
        }

        private static void Chunk(Stream s, string kind, byte[] data)
        {
            WriteBigEndian(s, (uint)data.Length);
            byte[] head = System.Text.Encoding.ASCII.GetBytes(kind);
            s.Write(head, 0, 4);
            s.Write(data, 0, data.Length);
            uint crc = 0xFFFFFFFF;
            foreach (byte v in head) crc = Crc(crc, v);
            foreach (byte v in data) crc = Crc(crc, v);
            WriteBigEndian(s, crc ^ 0xFFFFFFFF);
        }

        private static uint Crc(uint crc, byte v)
        {
            crc ^= v;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
            return crc;
        }

        private static void WriteBigEndian(Stream s, uint v)
        {
            s.WriteByte((byte)(v >> 24)); s.WriteByte((byte)(v >> 16)); s.WriteByte((byte)(v >> 8)); s.WriteByte((byte)v);
        }
    }
}
