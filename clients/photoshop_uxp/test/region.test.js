// Selection -> crop -> placement math and the pure-JS image codec, on the odd cases.
import assert from "node:assert/strict";
import { test } from "node:test";

import { decodePNG, encodePNG, encodePNG16, fromBase64, toBase64 } from "../src/image/codec.js";
import {
  boundsToRect, buffer, composeInto, expandSpan, extendEdges, maskForCrop, maskForPlace, pixelsToPoints, planDocument,
  planRegion, rect, resultForPlace, unitToPixels,
} from "../src/math/region.js";

const contains = (outer, inner) => outer.left <= inner.left && outer.top <= inner.top &&
  outer.left + outer.width >= inner.left + inner.width && outer.top + outer.height >= inner.top + inner.height;

function checkRegion(region, docW, docH, selection, padding) {
  const { crop, place, offset } = region;
  assert.equal(crop.width % 8, 0, "crop width is a multiple of 8");
  assert.equal(crop.height % 8, 0, "crop height is a multiple of 8");
  assert.ok(contains(crop, place), "the crop contains the placement");
  assert.deepEqual(offset, { x: place.left - crop.left, y: place.top - crop.top });
  const expected = selection ?? rect(0, 0, docW, docH);
  const clamped = rect(Math.max(0, expected.left), Math.max(0, expected.top),
    Math.min(docW, expected.left + expected.width) - Math.max(0, expected.left),
    Math.min(docH, expected.top + expected.height) - Math.max(0, expected.top));
  assert.deepEqual(place, clamped, "placement = the selection's bounds (clamped to the canvas), exactly");
  // the padding is there wherever the canvas has room for it
  assert.ok(crop.left <= Math.max(0, place.left - padding) && crop.top <= Math.max(0, place.top - padding));
  // the crop leaves the canvas only where the canvas is too small for a multiple of 8
  if (docW >= crop.width) assert.ok(crop.left >= 0 && crop.left + crop.width <= docW, `crop inside the canvas: ${JSON.stringify(crop)}`);
  if (docH >= crop.height) assert.ok(crop.top >= 0 && crop.top + crop.height <= docH);
}

test("a selection touching the canvas edge: placed exactly, crop grown inwards", () => {
  const selection = rect(90, 60, 10, 10); // bottom-right corner of a 100 x 70 document
  const region = planRegion({ selection, docWidth: 100, docHeight: 70, padding: 8 });
  checkRegion(region, 100, 70, selection, 8);
  assert.deepEqual(region.place, selection);
  assert.equal(region.crop.left + region.crop.width, 100);
  assert.equal(region.crop.top + region.crop.height, 70);
  const topLeft = planRegion({ selection: rect(0, 0, 5, 3), docWidth: 100, docHeight: 70, padding: 4 });
  checkRegion(topLeft, 100, 70, rect(0, 0, 5, 3), 4);
  assert.deepEqual(topLeft.crop, rect(0, 0, 16, 8));
});

test("a selection partly outside the canvas is clamped to it", () => {
  const region = planRegion({ selection: rect(-20, 50, 60, 40), docWidth: 100, docHeight: 70, padding: 0 });
  assert.deepEqual(region.place, rect(0, 50, 40, 20));
  checkRegion(region, 100, 70, rect(-20, 50, 60, 40), 0);
  assert.throws(() => planRegion({ selection: rect(200, 0, 10, 10), docWidth: 100, docHeight: 70 }), /outside the canvas/);
});

test("non-multiple-of-8 sizes expand the crop, never distort; random cases keep every invariant", () => {
  const region = planRegion({ selection: rect(353, 187, 301, 455), docWidth: 1000, docHeight: 700, padding: 32 });
  checkRegion(region, 1000, 700, rect(353, 187, 301, 455), 32);
  assert.deepEqual(region.crop, rect(320, 155, 368, 520)); // 365 x 519 padded, grown by 3 and 1
  let seed = 7;
  const rnd = (n) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let i = 0; i < 2000; i++) {
    const docW = 1 + rnd(300), docH = 1 + rnd(300);
    const selection = rect(rnd(docW), rnd(docH), 1 + rnd(docW), 1 + rnd(docH));
    const padding = rnd(40);
    checkRegion(planRegion({ selection, docWidth: docW, docHeight: docH, padding }), docW, docH, selection, padding);
  }
  for (let lo = 0; lo < 20; lo++) for (let hi = lo + 1; hi < 40; hi++) for (const limit of [hi, hi + 3, 64]) {
    const [a, b] = expandSpan(lo, hi, limit);
    assert.ok(a <= lo && b >= hi && (b - a) % 8 === 0 && b - a - (hi - lo) < 8 && a >= 0);
  }
});

test("txt2img at document size: the request is the next multiple of 8, the layer is the document", () => {
  assert.deepEqual(planDocument(1001, 700), { crop: rect(0, 0, 1008, 704), place: rect(0, 0, 1001, 700), offset: { x: 0, y: 0 } });
  const result = buffer(1008, 704, 4);
  const placed = resultForPlace(result, planDocument(1001, 700));
  assert.equal(placed.width, 1001);
  assert.equal(placed.height, 700);
});

test("a canvas smaller than 8 px: the crop leaves the canvas and is filled by repeating the edge", () => {
  const region = planRegion({ selection: null, docWidth: 5, docHeight: 3 });
  assert.deepEqual(region.crop, rect(0, 0, 8, 8));
  assert.deepEqual(region.place, rect(0, 0, 5, 3));
  const piece = buffer(5, 3, 1, Uint8Array.from({ length: 15 }, (_, i) => i + 1));
  const filled = extendEdges(composeInto(region.crop, 1, rect(0, 0, 5, 3), piece), region.crop, 5, 3);
  assert.equal(filled.data[0 * 8 + 7], 5); // right of the last column: the last column
  assert.equal(filled.data[7 * 8 + 0], 11); // below the last row: the last row
  assert.equal(filled.data[7 * 8 + 7], 15);
});

test("the result is cut back to exactly the selection's pixels", () => {
  const selection = rect(13, 7, 21, 11);
  const region = planRegion({ selection, docWidth: 64, docHeight: 40, padding: 5 });
  const result = buffer(region.crop.width, region.crop.height, 4);
  for (let y = 0; y < result.height; y++) for (let x = 0; x < result.width; x++) result.data.set([x + region.crop.left, y + region.crop.top, 0, 255], (y * result.width + x) * 4);
  const placed = resultForPlace(result, region);
  assert.equal(placed.width, 21);
  assert.equal(placed.height, 11);
  for (let y = 0; y < 11; y++) for (let x = 0; x < 21; x++) {
    const i = (y * 21 + x) * 4;
    assert.deepEqual([placed.data[i], placed.data[i + 1]], [13 + x, 7 + y], "document pixel (x, y) comes back at (x, y)");
  }
});

test("feathered masks: the selection's alpha values are kept in the inpaint mask and the layer mask", () => {
  const bounds = rect(10, 4, 12, 6);
  const data = Uint8Array.from({ length: 72 }, (_, i) => (i * 37) % 256); // every value differs: a soft edge
  const selection = { bounds, data };
  const region = planRegion({ selection: bounds, docWidth: 40, docHeight: 30, padding: 3 });
  const mask = maskForCrop(selection, region.crop);
  assert.equal(mask.channels, 1);
  for (let y = 0; y < region.crop.height; y++) for (let x = 0; x < region.crop.width; x++) {
    const dx = region.crop.left + x - 10, dy = region.crop.top + y - 4;
    const inside = dx >= 0 && dx < 12 && dy >= 0 && dy < 6;
    assert.equal(mask.data[y * mask.width + x], inside ? data[dy * 12 + dx] : 0);
  }
  assert.deepEqual(maskForPlace(selection, region.place).data, data, "the layer mask is the selection, value for value");
  const decoded = decodePNG(encodePNG(mask));
  assert.deepEqual(decoded.data, mask.data, "and survives the PNG round trip");
});

test("HiDPI documents: descriptor units become pixels with the document's resolution", () => {
  assert.equal(unitToPixels({ _unit: "pixelsUnit", _value: 120 }, 300), 120);
  assert.equal(unitToPixels({ _unit: "distanceUnit", _value: 72 }, 300), 300, "72 pt = 1 in = 300 px at 300 ppi");
  assert.equal(unitToPixels({ _unit: "rulerInches", _value: 2 }, 144), 288);
  assert.ok(Math.abs(unitToPixels({ _unit: "rulerCm", _value: 2.54 }, 300) - 300) < 1e-9);
  assert.equal(pixelsToPoints(300, 300), 72);
  assert.throws(() => unitToPixels({ _unit: "percentUnit", _value: 50 }), /cannot convert/);
  // A selection reported in points on a 300 ppi document: 100.5 px edges grow outwards, a round trip stays put.
  const pt = (px) => ({ _unit: "distanceUnit", _value: pixelsToPoints(px, 300) });
  assert.deepEqual(boundsToRect({ left: pt(100), top: pt(40), right: pt(403), bottom: pt(241) }, 300), rect(100, 40, 303, 201));
  assert.deepEqual(boundsToRect({ left: pt(100.5), top: pt(40), right: pt(200.5), bottom: pt(50) }, 300), rect(100, 40, 101, 10));
  const sameAt72 = boundsToRect({ left: 10, top: 20, right: 30, bottom: 40 }, 72);
  assert.deepEqual(sameAt72, rect(10, 20, 20, 20));
  const region = planRegion({ selection: boundsToRect({ left: pt(100), top: pt(40), right: pt(403), bottom: pt(241) }, 300), docWidth: 2480, docHeight: 3508, padding: 16 });
  assert.deepEqual(region.place, rect(100, 40, 303, 201));
  assert.equal(region.crop.width % 8, 0);
});

test("PNG and base64 in pure JS: RGBA, gray, 16-bit depth", () => {
  const rgba = buffer(3, 2, 4, Uint8Array.from({ length: 24 }, (_, i) => i * 10));
  assert.deepEqual(decodePNG(encodePNG(rgba)), rgba);
  const gray = buffer(4, 1, 1, Uint8Array.of(0, 1, 128, 255));
  const png16 = decodePNG(encodePNG16(gray));
  assert.deepEqual([...png16.data], [0, 1, 128, 255]);
  for (const n of [0, 1, 2, 3, 4, 5, 255, 1000]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 91) % 256);
    assert.equal(toBase64(bytes), Buffer.from(bytes).toString("base64"));
    assert.deepEqual(fromBase64(toBase64(bytes)), bytes);
  }
});
