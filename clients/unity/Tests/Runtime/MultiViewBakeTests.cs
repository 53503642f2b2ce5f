// The multi-view bake core (Runtime/Core/MultiViewBake.cs) on a cube [-1, 1]^3 with its faces in a 3x2 UV grid,
// the same fixture as the Blender add-on's tests/test_blender_addon_bake.py.
using System;
using DccBridge.Core;
using NUnit.Framework;

namespace DccBridge.Tests
{
    [TestFixture]
    public class MultiViewBakeTests
    {
        static readonly int[,] Faces = { { 0, 1 }, { 0, -1 }, { 1, 1 }, { 1, -1 }, { 2, 1 }, { 2, -1 } };

        static void Cube(out double[] uv, out double[] pos, out double[] nrm)
        {
            uv = new double[12 * 6]; pos = new double[12 * 9]; nrm = new double[12 * 9];
            int[,] square = { { -1, -1 }, { 1, -1 }, { 1, 1 }, { -1, 1 } };
            int[,] tris = { { 0, 1, 2 }, { 0, 2, 3 } };
            int t = 0;
            for (int f = 0; f < 6; f++)
            {
                int axis = Faces[f, 0], sign = Faces[f, 1];
                int ua = axis == 0 ? 1 : 0, va = axis == 2 ? 1 : 2;
                for (int k = 0; k < 2; k++, t++)
                    for (int v = 0; v < 3; v++)
                    {
                        int corner = tris[k, v];
                        double a = square[corner, 0], b = square[corner, 1];
                        var p = new double[3];
                        p[axis] = sign; p[ua] = a; p[va] = b;
                        for (int i = 0; i < 3; i++) { pos[t * 9 + v * 3 + i] = p[i]; nrm[t * 9 + v * 3 + i] = i == axis ? sign : 0; }
                        uv[t * 6 + v * 2] = (f % 3 + (a + 1) / 2 * 0.9 + 0.05) / 3;
                        uv[t * 6 + v * 2 + 1] = (f / 3 + (b + 1) / 2 * 0.9 + 0.05) / 2;
                    }
            }
        }

        /// <summary>A perspective camera at `eye` looking at the origin (+Z up), like Blender's / Unity's.</summary>
        static BakeCamera LookAt(double ex, double ey, double ez, double fovDeg, int size)
        {
            double fx = -ex, fy = -ey, fz = -ez;
            double fl = Math.Sqrt(fx * fx + fy * fy + fz * fz); fx /= fl; fy /= fl; fz /= fl;
            double rx = fy, ry = -fx, rz = 0;                      // forward × +Z
            double rl = Math.Sqrt(rx * rx + ry * ry); rx /= rl; ry /= rl;
            double ux = ry * fz - rz * fy, uy = rz * fx - rx * fz, uz = rx * fy - ry * fx;
            double[] rows = { rx, ry, rz, ux, uy, uz, -fx, -fy, -fz };
            var w2v = new double[16];
            for (int r = 0; r < 3; r++)
            {
                w2v[r * 4] = rows[r * 3]; w2v[r * 4 + 1] = rows[r * 3 + 1]; w2v[r * 4 + 2] = rows[r * 3 + 2];
                w2v[r * 4 + 3] = -(rows[r * 3] * ex + rows[r * 3 + 1] * ey + rows[r * 3 + 2] * ez);
            }
            w2v[15] = 1;
            double f = 1.0 / Math.Tan(fovDeg * Math.PI / 360.0), near = 0.1, far = 100;
            var proj = new double[] { f, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) / (near - far), 2 * far * near / (near - far), 0, 0, -1, 0 };
            return new BakeCamera { WorldToView = w2v, Projection = proj, Width = size, Height = size };
        }

        static float[] Flat(int size, float r, float g, float b)
        {
            var rgb = new float[size * size * 3];
            for (int i = 0; i < size * size; i++) { rgb[i * 3] = r; rgb[i * 3 + 1] = g; rgb[i * 3 + 2] = b; }
            return rgb;
        }

        static bool OnFace(TexelGrid g, int i, int axis, int sign)
        {
            return g.Valid[i] && Math.Abs(g.Normal[i * 3 + axis] - sign) < 1e-9;
        }

        [Test]
        public void UvRasterPutsEveryTexelOnTheSurfaceWithItsOutwardNormal()
        {
            double[] uv, pos, nrm;
            Cube(out uv, out pos, out nrm);
            var g = MultiViewBake.RasterizeUv(uv, pos, nrm, 60);
            int valid = 0;
            for (int i = 0; i < g.Valid.Length; i++)
            {
                if (!g.Valid[i]) continue;
                valid++;
                double m = Math.Max(Math.Abs(g.Position[i * 3]), Math.Max(Math.Abs(g.Position[i * 3 + 1]), Math.Abs(g.Position[i * 3 + 2])));
                Assert.AreEqual(1.0, m, 1e-9);
            }
            Assert.That(valid, Is.GreaterThan(0.6 * 3600));
            Assert.That(valid, Is.LessThan(0.9 * 3600));
        }

        [Test]
        public void ViewsBlendByNDotVSquaredAndUnseenFacesStayUncovered()
        {
            double[] uv, pos, nrm;
            Cube(out uv, out pos, out nrm);
            var g = MultiViewBake.RasterizeUv(uv, pos, nrm, 48);
            var acc = new BakeAccumulator(g, 2.0);
            Assert.That(acc.AddView(Flat(64, 1, 0, 0), LookAt(0, -6, 0, 40, 64), null), Is.GreaterThan(0));
            Assert.That(acc.AddView(Flat(64, 0, 0, 1), LookAt(4.2, -4.2, 0, 40, 64), null), Is.GreaterThan(0));
            var tex = acc.Texture(0);
            int checkedFront = 0;
            for (int i = 0; i < g.Valid.Length; i++)
            {
                if (OnFace(g, i, 1, -1))
                {
                    double wf = CosTo(g, i, 0, -6, 0), wc = CosTo(g, i, 4.2, -4.2, 0);
                    wf *= wf; wc *= wc;
                    Assert.AreEqual(wf / (wf + wc), tex[i * 3], 0.02);
                    checkedFront++;
                }
                if (OnFace(g, i, 0, 1)) { Assert.AreEqual(0.0, tex[i * 3], 1e-6); Assert.AreEqual(1.0, tex[i * 3 + 2], 1e-6); }
                if (OnFace(g, i, 0, -1) || OnFace(g, i, 1, 1) || OnFace(g, i, 2, -1)) Assert.IsFalse(acc.Covered(i));
            }
            Assert.That(checkedFront, Is.GreaterThan(200));
        }

        [Test]
        public void ADepthPassNearerThanTheTexelHidesIt()
        {
            double[] uv, pos, nrm;
            Cube(out uv, out pos, out nrm);
            var g = MultiViewBake.RasterizeUv(uv, pos, nrm, 32);
            var cam = LookAt(0, -6, 0, 40, 64);
            var wall = new float[64 * 64];
            var open = new float[64 * 64];
            for (int i = 0; i < wall.Length; i++) { wall[i] = 2f; open[i] = 5f; }
            Assert.AreEqual(0, new BakeAccumulator(g, 2).AddView(Flat(64, 1, 1, 1), cam, wall));
            // A pass at the front face's depth (5 on the axis; the face is flat, so every pixel is 5) keeps it.
            int withoutPass = new BakeAccumulator(g, 2).AddView(Flat(64, 1, 1, 1), cam, null);
            Assert.That(withoutPass, Is.GreaterThan(100));
            Assert.AreEqual(withoutPass, new BakeAccumulator(g, 2).AddView(Flat(64, 1, 1, 1), cam, open));
        }

        [Test]
        public void WeightAndDilation()
        {
            Assert.AreEqual(0.25, MultiViewBake.Weight(0.5, 2), 1e-12);
            Assert.AreEqual(0.0, MultiViewBake.Weight(-0.2, 2), 1e-12);
            var rgb = new float[5 * 5 * 3];
            var known = new bool[25];
            known[12] = true; rgb[36] = 1f; rgb[37] = 0.5f;
            MultiViewBake.Dilate(rgb, known, 5, 1);
            int grown = 0;
            for (int i = 0; i < 25; i++) if (known[i]) { grown++; Assert.AreEqual(1f, rgb[i * 3]); Assert.AreEqual(0.5f, rgb[i * 3 + 1]); }
            Assert.AreEqual(9, grown);
        }

        static double CosTo(TexelGrid g, int i, double ex, double ey, double ez)
        {
            double dx = ex - g.Position[i * 3], dy = ey - g.Position[i * 3 + 1], dz = ez - g.Position[i * 3 + 2];
            double len = Math.Sqrt(dx * dx + dy * dy + dz * dz);
            return (g.Normal[i * 3] * dx + g.Normal[i * 3 + 1] * dy + g.Normal[i * 3 + 2] * dz) / len;
        }
    }
}
