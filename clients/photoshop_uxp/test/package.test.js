// The packaging script: an installable .ccx (a zip with manifest.json at its root) with a working bundle.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { inflateRawSync } from "node:zlib";

import { PLUGIN_FILES, packagePlugin } from "../scripts/package.mjs";

/** Read a zip's entries (name -> bytes) from its central directory. */
function unzip(bytes) {
  const end = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = bytes.readUInt16LE(end + 10);
  let p = bytes.readUInt32LE(end + 16);
  const entries = new Map();
  for (let i = 0; i < count; i++) {
    const method = bytes.readUInt16LE(p + 10), size = bytes.readUInt32LE(p + 20), nameLength = bytes.readUInt16LE(p + 28);
    const extra = bytes.readUInt16LE(p + 30), comment = bytes.readUInt16LE(p + 32), local = bytes.readUInt32LE(p + 42);
    const name = bytes.subarray(p + 46, p + 46 + nameLength).toString();
    const start = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
    const data = bytes.subarray(start, start + size);
    entries.set(name, method === 8 ? inflateRawSync(data) : data);
    p += 46 + nameLength + extra + comment;
  }
  return entries;
}

test("package.mjs writes a .ccx with manifest.json at the root, the bundle and the panel", async () => {
  const out = await packagePlugin({ outDir: mkdtempSync(join(tmpdir(), "ccx-")), servers: ["https://render-box:50052/"] });
  assert.match(out, /dccbridge-photoshop-\d+\.\d+\.\d+\.ccx$/);
  const entries = unzip(readFileSync(out));
  assert.deepEqual([...entries.keys()].sort(), ["manifest.json", ...PLUGIN_FILES].sort());
  const manifest = JSON.parse(entries.get("manifest.json"));
  assert.equal(manifest.manifestVersion, 5);
  assert.equal(manifest.main, "index.html");
  assert.deepEqual(manifest.host.map((h) => h.app), ["PS"]);
  assert.ok(manifest.requiredPermissions.network.domains.includes("http://127.0.0.1:50052"));
  assert.ok(manifest.requiredPermissions.network.domains.includes("https://render-box:50052"), "--server adds its origin");
  const panel = manifest.entrypoints.find((e) => e.type === "panel");
  const bundle = entries.get("dist/main.js").toString();
  assert.ok(bundle.includes(panel.id), "the bundle registers the manifest's panel id");
  assert.ok(entries.get("index.html").toString().includes('src="dist/main.js"'));
  const requires = [...bundle.matchAll(/\b(?:__)?require\("([^"]+)"\)/g)].map((m) => m[1]);
  assert.deepEqual([...new Set(requires)].sort(), ["photoshop", "uxp"], "UXP provides only these; everything else is bundled");
  assert.ok(!/^\s*import\s/m.test(bundle) && !/\bexport\s*\{/.test(bundle), "one classic script, no ES module syntax left");
  for (const icon of PLUGIN_FILES.filter((f) => f.endsWith(".png"))) assert.equal(entries.get(icon)[1], 0x50);
});
