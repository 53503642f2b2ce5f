#!/usr/bin/env node
// Build and package the plugin.
//   node scripts/package.mjs                  -> dist/main.js (bundle) + dist/dccbridge-photoshop-<version>.ccx
//   node scripts/package.mjs --build-only     -> dist/main.js only (then load manifest.json in UXP Developer Tool)
//   node scripts/package.mjs --server https://render-box:50052   also allow that server in the packaged manifest
//   node scripts/package.mjs --out DIR        write the .ccx into DIR
// The .ccx is a zip of the plugin folder with manifest.json at its root; double-click it (Creative Cloud
// installs it) or load the folder's manifest.json in the UXP Developer Tool ("Add plugin").
import { readFileSync, mkdirSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateRawSync } from "node:zlib";

import { build } from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
// What goes into the .ccx (besides the packaged manifest.json).
export const PLUGIN_FILES = ["index.html", "styles.css", "dist/main.js", "icons/panel.png", "icons/panel@2x.png", "icons/plugin.png", "icons/plugin@2x.png"];

/** src/main.js -> dist/main.js: one script for UXP, `photoshop` and `uxp` left to UXP's require(). */
export async function bundle(outfile = join(ROOT, "dist", "main.js")) {
  await build({
    entryPoints: [join(ROOT, "src", "main.js")],
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "es2020",
    external: ["photoshop", "uxp"],
    outfile,
    legalComments: "none",
    logLevel: "warning",
  });
  return outfile;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (bytes) => {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};

/** A zip archive (deflate) of [name, bytes] entries, names with forward slashes. */
export function zip(entries) {
  const locals = [], centrals = [];
  let offset = 0;
  const DOS_TIME = 0, DOS_DATE = (2026 - 1980) << 9 | 1 << 5 | 1; // fixed: reproducible archives
  for (const [name, data] of entries) {
    const nameBytes = Buffer.from(name, "utf8");
    const compressed = deflateRawSync(data, { level: 9 });
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt16LE(0x0800, 6);
    local.writeUInt16LE(8, 8); local.writeUInt16LE(DOS_TIME, 10); local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14); local.writeUInt32LE(compressed.length, 18); local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26); local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8); central.writeUInt16LE(8, 10); central.writeUInt16LE(DOS_TIME, 12);
    central.writeUInt16LE(DOS_DATE, 14); central.writeUInt32LE(crc, 16); central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(data.length, 24); central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, compressed);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + compressed.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

/** The manifest as packaged: extra server origins added to requiredPermissions.network.domains. */
export function packagedManifest(servers = []) {
  const manifest = JSON.parse(readFileSync(join(ROOT, "manifest.json"), "utf8"));
  const domains = manifest.requiredPermissions.network.domains;
  for (const server of servers) {
    const origin = new URL(server).origin;
    if (!domains.includes(origin)) domains.push(origin);
  }
  return manifest;
}

export async function packagePlugin({ outDir = join(ROOT, "dist"), servers = [] } = {}) {
  await bundle();
  const manifest = packagedManifest(servers);
  const entries = [["manifest.json", Buffer.from(JSON.stringify(manifest, null, 2) + "\n")]];
  for (const file of PLUGIN_FILES) {
    const path = join(ROOT, file);
    if (!existsSync(path)) throw new Error(`missing ${file}`);
    entries.push([file, readFileSync(path)]);
  }
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, `dccbridge-photoshop-${manifest.version}.ccx`);
  writeFileSync(out, zip(entries));
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const servers = [], value = (i) => args[i + 1];
  let outDir;
  args.forEach((arg, i) => {
    if (arg === "--server") servers.push(value(i));
    if (arg === "--out") outDir = resolve(value(i));
  });
  if (args.includes("--build-only")) {
    console.log(await bundle());
  } else {
    console.log(await packagePlugin({ outDir, servers }));
  }
}
