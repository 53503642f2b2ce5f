// Multi-view texture baking math, the Blender add-on's bake.py in C# (no UnityEngine: plain arrays, testable
// under Mono). Conventions: a mesh is triangles (positions and normals 9 doubles each, UVs 6, world space, v up);
// textures and view images are top row first; a texel (r, c) of an S×S texture sits at u = (c + 0.5) / S,
// v = 1 − (r + 0.5) / S. A camera is its world→view matrix (rigid, the camera looks down −Z) and an OpenGL-style
// projection, both row-major 4×4; depth is the distance along the view axis (a linear eye-depth pass).
using System;

namespace DccBridge.Core
{
    public sealed class BakeCamera
    {
        public double[] WorldToView;   // 16, row-major
        public double[] Projection;    // 16, row-major
        public int Width;
        public int Height;
        public bool Perspective = true;

        /// <summary>(x right, y down from the top-left, in pixels; depth along the view axis, negative = behind).</summary>
        public void Project(double x, double y, double z, out double px, out double py, out double depth)
        {
            var v = new double[4];
            for (int r = 0; r < 4; r++)
                v[r] = WorldToView[r * 4] * x + WorldToView[r * 4 + 1] * y + WorldToView[r * 4 + 2] * z + WorldToView[r * 4 + 3];
            var c = new double[4];
            for (int r = 0; r < 4; r++)
                c[r] = Projection[r * 4] * v[0] + Projection[r * 4 + 1] * v[1] + Projection[r * 4 + 2] * v[2] + Projection[r * 4 + 3] * v[3];
            double w = Math.Abs(c[3]) > 1e-12 ? c[3] : 1e-12;
            px = (c[0] / w + 1.0) * 0.5 * Width;
            py = (1.0 - (c[1] / w + 1.0) * 0.5) * Height;
            depth = -v[2];
        }

        /// <summary>Unit vector from a point towards the camera (perspective) or the camera's backward axis (ortho).</summary>
        public void DirectionTo(double x, double y, double z, out double dx, out double dy, out double dz)
        {
            var m = WorldToView;   // rigid: the inverse's rotation is the transpose, its origin −Rᵀt
            if (Perspective)
            {
                double cx = -(m[0] * m[3] + m[4] * m[7] + m[8] * m[11]);
                double cy = -(m[1] * m[3] + m[5] * m[7] + m[9] * m[11]);
                double cz = -(m[2] * m[3] + m[6] * m[7] + m[10] * m[11]);
                dx = cx - x; dy = cy - y; dz = cz - z;
            }
            else
            {
                dx = m[8]; dy = m[9]; dz = m[10];
            }
            double len = Math.Sqrt(dx * dx + dy * dy + dz * dz);
            if (len < 1e-12) len = 1e-12;
            dx /= len; dy /= len; dz /= len;
        }
    }

    /// <summary>Per texel of a Size × Size texture: world position and unit normal (3 doubles each) and whether a
    /// triangle covers it.</summary>
    public sealed class TexelGrid
    {
        public int Size;
        public double[] Position;
        public double[] Normal;
        public bool[] Valid;
    }

    public static class MultiViewBake
    {
        public const double DepthTolerance = 0.02;      // relative, plus DepthToleranceAbs scene units
        public const double DepthToleranceAbs = 0.02;

        /// <summary>The mesh laid out in UV space: rasterises each UV triangle over the texel centres.</summary>
        public static TexelGrid RasterizeUv(double[] triUv, double[] triPos, double[] triNrm, int size)
        {
            if (size <= 0) throw new ArgumentException("texture size must be positive, got " + size);
            int count = triUv.Length / 6;
            if (triPos.Length != count * 9 || triNrm.Length != count * 9)
                throw new ArgumentException("triangles: 6 UV, 9 position and 9 normal values each");
            var grid = new TexelGrid { Size = size, Position = new double[size * size * 3], Normal = new double[size * size * 3],
                                       Valid = new bool[size * size] };
            for (int t = 0; t < count; t++)
            {
                double x0 = triUv[t * 6] * size, y0 = (1 - triUv[t * 6 + 1]) * size;
                double x1 = triUv[t * 6 + 2] * size, y1 = (1 - triUv[t * 6 + 3]) * size;
                double x2 = triUv[t * 6 + 4] * size, y2 = (1 - triUv[t * 6 + 5]) * size;
                double det = (y1 - y2) * (x0 - x2) + (x2 - x1) * (y0 - y2);
                if (Math.Abs(det) < 1e-14) continue;
                int c0 = Math.Max(0, (int)Math.Floor(Math.Min(x0, Math.Min(x1, x2)) - 0.5));
                int c1 = Math.Min(size - 1, (int)Math.Ceiling(Math.Max(x0, Math.Max(x1, x2)) - 0.5));
                int r0 = Math.Max(0, (int)Math.Floor(Math.Min(y0, Math.Min(y1, y2)) - 0.5));
                int r1 = Math.Min(size - 1, (int)Math.Ceiling(Math.Max(y0, Math.Max(y1, y2)) - 0.5));
                for (int r = r0; r <= r1; r++)
                    for (int c = c0; c <= c1; c++)
                    {
                        double px = c + 0.5, py = r + 0.5;
                        double b0 = ((y1 - y2) * (px - x2) + (x2 - x1) * (py - y2)) / det;
                        double b1 = ((y2 - y0) * (px - x2) + (x0 - x2) * (py - y2)) / det;
                        double b2 = 1 - b0 - b1;
                        if (b0 < -1e-7 || b1 < -1e-7 || b2 < -1e-7) continue;
                        int i = r * size + c;
                        double nx = 0, ny = 0, nz = 0;
                        for (int k = 0; k < 3; k++)
                        {
                            int a = t * 9 + k;
                            grid.Position[i * 3 + k] = b0 * triPos[a] + b1 * triPos[a + 3] + b2 * triPos[a + 6];
                        }
                        nx = b0 * triNrm[t * 9] + b1 * triNrm[t * 9 + 3] + b2 * triNrm[t * 9 + 6];
                        ny = b0 * triNrm[t * 9 + 1] + b1 * triNrm[t * 9 + 4] + b2 * triNrm[t * 9 + 7];
                        nz = b0 * triNrm[t * 9 + 2] + b1 * triNrm[t * 9 + 5] + b2 * triNrm[t * 9 + 8];
                        double len = Math.Sqrt(nx * nx + ny * ny + nz * nz);
                        if (len < 1e-12) continue;
                        grid.Normal[i * 3] = nx / len; grid.Normal[i * 3 + 1] = ny / len; grid.Normal[i * 3 + 2] = nz / len;
                        grid.Valid[i] = true;
                    }
            }
            return grid;
        }

        /// <summary>How much a view counts for a texel: max(0, n·v)^power.</summary>
        public static double Weight(double cos, double power)
        {
            return cos <= 0 ? 0 : Math.Pow(Math.Min(cos, 1.0), power);
        }

        /// <summary>Grows known texels `steps` times: each unknown texel next to known ones takes their mean.</summary>
        public static void Dilate(float[] rgb, bool[] known, int size, int steps)
        {
            for (int s = 0; s < steps; s++)
            {
                var grown = (bool[])known.Clone();
                var source = (float[])rgb.Clone();
                for (int r = 0; r < size; r++)
                    for (int c = 0; c < size; c++)
                    {
                        int i = r * size + c;
                        if (known[i]) continue;
                        double sr = 0, sg = 0, sb = 0;
                        int n = 0;
                        for (int dr = -1; dr <= 1; dr++)
                            for (int dc = -1; dc <= 1; dc++)
                            {
                                int rr = r + dr, cc = c + dc;
                                if ((dr == 0 && dc == 0) || rr < 0 || cc < 0 || rr >= size || cc >= size) continue;
                                int j = rr * size + cc;
                                if (!known[j]) continue;
                                sr += source[j * 3]; sg += source[j * 3 + 1]; sb += source[j * 3 + 2];
                                n++;
                            }
                        if (n == 0) continue;
                        rgb[i * 3] = (float)(sr / n); rgb[i * 3 + 1] = (float)(sg / n); rgb[i * 3 + 2] = (float)(sb / n);
                        grown[i] = true;
                    }
                Array.Copy(grown, known, known.Length);
            }
        }
    }

    /// <summary>The texture being baked: per texel a weighted sum of the views' colours and the best n·v so far.</summary>
    public sealed class BakeAccumulator
    {
        readonly TexelGrid grid;
        readonly double power;
        readonly double[] colorSum;
        readonly double[] weightSum;
        public readonly double[] BestCos;

        public BakeAccumulator(TexelGrid grid, double power)
        {
            this.grid = grid;
            this.power = power;
            colorSum = new double[grid.Valid.Length * 3];
            weightSum = new double[grid.Valid.Length];
            BestCos = new double[grid.Valid.Length];
        }

        /// <summary>Bakes one view: rgb (Width*Height*3, 0..1, top row first) and its depth pass (top row first;
        /// null = no occlusion test). Returns how many texels it saw.</summary>
        public int AddView(float[] rgb, BakeCamera camera, float[] depth)
        {
            if (rgb.Length != camera.Width * camera.Height * 3) throw new ArgumentException("view image must be Width*Height*3");
            int seen = 0;
            for (int i = 0; i < grid.Valid.Length; i++)
            {
                if (!grid.Valid[i]) continue;
                double x = grid.Position[i * 3], y = grid.Position[i * 3 + 1], z = grid.Position[i * 3 + 2];
                double px, py, d, vx, vy, vz;
                camera.Project(x, y, z, out px, out py, out d);
                if (d <= 0 || px < 0 || py < 0 || px >= camera.Width || py >= camera.Height) continue;
                camera.DirectionTo(x, y, z, out vx, out vy, out vz);
                double cos = grid.Normal[i * 3] * vx + grid.Normal[i * 3 + 1] * vy + grid.Normal[i * 3 + 2] * vz;
                if (cos <= 0) continue;
                if (depth != null)
                {
                    double pass = depth[(int)py * camera.Width + (int)px];
                    if (Math.Abs(d - pass) > MultiViewBake.DepthTolerance * Math.Abs(d) + MultiViewBake.DepthToleranceAbs) continue;
                }
                double w = MultiViewBake.Weight(cos, power);
                for (int k = 0; k < 3; k++) colorSum[i * 3 + k] += w * Bilinear(rgb, camera.Width, camera.Height, px, py, k);
                weightSum[i] += w;
                if (cos > BestCos[i]) BestCos[i] = cos;
                seen++;
            }
            return seen;
        }

        public bool Covered(int texel) { return weightSum[texel] > 1e-8; }

        /// <summary>The baked colours (Size*Size*3, top row first): weighted average where covered, grown `dilate`
        /// texels, the rest the covered texels' mean.</summary>
        public float[] Texture(int dilate)
        {
            int n = grid.Valid.Length;
            var rgb = new float[n * 3];
            var known = new bool[n];
            double mr = 0, mg = 0, mb = 0;
            int count = 0;
            for (int i = 0; i < n; i++)
            {
                if (!Covered(i)) continue;
                known[i] = true;
                for (int k = 0; k < 3; k++) rgb[i * 3 + k] = (float)(colorSum[i * 3 + k] / weightSum[i]);
                mr += rgb[i * 3]; mg += rgb[i * 3 + 1]; mb += rgb[i * 3 + 2];
                count++;
            }
            MultiViewBake.Dilate(rgb, known, grid.Size, dilate);
            float fr = count > 0 ? (float)(mr / count) : 0.5f, fg = count > 0 ? (float)(mg / count) : 0.5f,
                  fb = count > 0 ? (float)(mb / count) : 0.5f;
            for (int i = 0; i < n; i++)
                if (!known[i]) { rgb[i * 3] = fr; rgb[i * 3 + 1] = fg; rgb[i * 3 + 2] = fb; }
            return rgb;
        }

        static double Bilinear(float[] rgb, int width, int height, double x, double y, int channel)
        {
            double fx = Math.Max(0, Math.Min(width - 1, x - 0.5)), fy = Math.Max(0, Math.Min(height - 1, y - 0.5));
            int x0 = (int)Math.Floor(fx), y0 = (int)Math.Floor(fy);
            int x1 = Math.Min(x0 + 1, width - 1), y1 = Math.Min(y0 + 1, height - 1);
            double ax = fx - x0, ay = fy - y0;
            double top = rgb[(y0 * width + x0) * 3 + channel] * (1 - ax) + rgb[(y0 * width + x1) * 3 + channel] * ax;
            double bottom = rgb[(y1 * width + x0) * 3 + channel] * (1 - ax) + rgb[(y1 * width + x1) * 3 + channel] * ax;
            return top * (1 - ay) + bottom * ay;
        }
    }
}
