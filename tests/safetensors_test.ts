/**
 * The safetensors codec (src/io/safetensors.ts): the exact bytes of a tiny file written
 * by hand from the specification, round trips of F32/F64 tensors (scalars, empty
 * tensors, odd sizes), header padding, reading only the header from disk, and every
 * structural error: short file, header length beyond the file, invalid UTF-8 / JSON,
 * unknown and unsupported dtypes, bad shapes and offsets, overlaps, gaps, wrong sizes,
 * trailing bytes, truncation, non-string metadata; plus the encoder's own checks.
 */

import assert from "node:assert/strict";
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensorsHeader,
} from "../src/io/safetensors.ts";
import { assertExact } from "./_helpers.ts";

/** A file assembled by hand: u64 LE header length, the header bytes as given, data. */
function handMade(header: string, data: number[] = []): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function throwsWith(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error, "expected an Error");
    for (const p of parts) {
      if (typeof p === "string") assert.ok(e.message.includes(p), `"${e.message}" lacks "${p}"`);
      else assert.match(e.message, p);
    }
    return true;
  });
}

Deno.test("encodeSafetensors writes the exact bytes of the specification", () => {
  const bytes = encodeSafetensors(
    [{ name: "a", dtype: "F32", shape: [2], data: new Float32Array([1.5, -2]) }],
    { k: "v" },
  );
  const json = '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const n = Math.ceil(json.length / 8) * 8; // 80: padded with spaces to a multiple of 8
  const expected = [
    ...[n, 0, 0, 0, 0, 0, 0, 0],
    ...new TextEncoder().encode(json.padEnd(n, " ")),
    ...[0x00, 0x00, 0xc0, 0x3f], // 1.5f = 0x3FC00000, little-endian
    ...[0x00, 0x00, 0x00, 0xc0], // -2f = 0xC0000000
  ];
  assertExact(bytes, expected, "file bytes");
  assert.equal((8 + n) % 8, 0);
});

Deno.test("safetensors round trip: F32 and F64, scalar, empty, odd sizes, metadata", () => {
  const f64 = Float64Array.from({ length: 7 }, (_, i) => Math.PI * (i - 3) / 7);
  const f32 = Float32Array.from({ length: 33 }, (_, i) => Math.fround(Math.sin(i) * 1e3));
  const tensors = [
    { name: "x.f64", dtype: "F64" as const, shape: [7], data: f64 },
    { name: "y/f32", dtype: "F32" as const, shape: [3, 11], data: f32 },
    { name: "scalar", dtype: "F32" as const, shape: [], data: new Float32Array([-0]) },
    { name: "empty", dtype: "F64" as const, shape: [0, 4], data: new Float64Array(0) },
    { name: "__proto__", dtype: "F64" as const, shape: [1], data: new Float64Array([NaN]) },
  ];
  const bytes = encodeSafetensors(tensors, { "ünïcode": "✓", "": "" });
  const file = decodeSafetensors(bytes, "mem");
  assert.deepEqual(file.metadata, { "ünïcode": "✓", "": "" });
  assert.deepEqual([...file.tensors.keys()], tensors.map((t) => t.name));
  for (const t of tensors) {
    const d = file.tensors.get(t.name)!;
    assert.equal(d.dtype, t.dtype);
    assert.deepEqual(d.shape, t.shape);
    assert.equal(d.data.constructor, t.data.constructor, t.name);
    assertExact(d.data, t.data, t.name);
  }
  // No metadata: the key is omitted.
  const plain = encodeSafetensors([tensors[0]]);
  assert.deepEqual(decodeSafetensors(plain).metadata, {});
  const n = Number(new DataView(plain.buffer).getBigUint64(0, true));
  assert.ok(!new TextDecoder().decode(plain.subarray(8, 8 + n)).includes("__metadata__"));
});

Deno.test("decodeSafetensors reads files laid out by other writers", () => {
  // Unpadded header (data not 8-aligned), entries out of offset order, extra fields.
  const hdr = '{"b":{"dtype":"F64","shape":[1],"data_offsets":[4,12]},' +
    '"a":{"dtype":"F32","shape":[],"data_offsets":[0,4],"extra":1}}';
  const data = [0x00, 0x00, 0x80, 0x3f, 0, 0, 0, 0, 0, 0, 0xf0, 0xbf]; // 1f, -1d
  const file = decodeSafetensors(handMade(hdr, data), "other");
  assert.deepEqual([...file.tensors.keys()], ["a", "b"]);
  assertExact(file.tensors.get("a")!.data, [1], "a");
  assertExact(file.tensors.get("b")!.data, [-1], "b");
});

Deno.test("readSafetensorsHeader reads the header only and checks the file size", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/h.safetensors`;
    const bytes = encodeSafetensors(
      [{ name: "w", dtype: "F64", shape: [2, 2], data: new Float64Array(4) }],
      { a: "b" },
    );
    await Deno.writeFile(path, bytes);
    const h = await readSafetensorsHeader(path);
    assert.deepEqual(h.metadata, { a: "b" });
    assert.deepEqual(h.tensors.get("w"), { dtype: "F64", shape: [2, 2], begin: 0, end: 32 });
    assert.equal(h.dataStart, bytes.length - 32);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 1));
    await assert.rejects(readSafetensorsHeader(path), /h\.safetensors.*truncated/);
    await assert.rejects(readSafetensorsHeader(`${dir}/none`), /none: cannot open/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("decodeSafetensors: structural errors name the file and the problem", () => {
  const good = encodeSafetensors(
    [
      { name: "a", dtype: "F32", shape: [2], data: new Float32Array([1, 2]) },
      { name: "b", dtype: "F64", shape: [1], data: new Float64Array([3]) },
    ],
  );
  const F = "file.st";
  throwsWith(() => decodeSafetensors(new Uint8Array(5), F), F, "too short");
  const big = good.slice();
  new DataView(big.buffer).setBigUint64(0, 1n << 40n, true);
  throwsWith(() => decodeSafetensors(big, F), F, "header length 1099511627776 exceeds the file");
  throwsWith(() => decodeSafetensors(good.subarray(0, 20), F), F, "exceeds the file");
  throwsWith(() => decodeSafetensors(good.subarray(0, good.length - 3), F), F, "truncated");
  const trailing = new Uint8Array(good.length + 4);
  trailing.set(good);
  throwsWith(() => decodeSafetensors(trailing, F), F, "4 unexpected bytes after the last tensor");

  // Corrupted header bytes.
  const bad = good.slice();
  bad[8 + 5] = 0xff;
  throwsWith(() => decodeSafetensors(bad, F), F, "not valid UTF-8");
  const broken = good.slice();
  broken[8 + 3] = "#".charCodeAt(0);
  throwsWith(() => decodeSafetensors(broken, F), F, "invalid JSON header");
  throwsWith(() => decodeSafetensors(handMade("[1,2]"), F), F, 'does not start with "{"');
  throwsWith(() => decodeSafetensors(handMade("{}  x"), F), F, "invalid JSON");
  throwsWith(() => decodeSafetensors(handMade('{"a":3}'), F), 'tensor "a"', "not an object");
  throwsWith(() => decodeSafetensors(handMade("{ }", [1]), F), "1 unexpected bytes");

  const one = (entry: string, data: number[] = []) => handMade(`{"t":${entry}}`, data);
  throwsWith(
    () => decodeSafetensors(one('{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}', [0, 0]), F),
    F,
    'tensor "t"',
    "dtype BF16 is not supported",
  );
  throwsWith(
    () => decodeSafetensors(one('{"dtype":"Q9","shape":[1],"data_offsets":[0,2]}', [0, 0]), F),
    'unknown dtype "Q9"',
  );
  throwsWith(
    () => decodeSafetensors(one('{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}'), F),
    "shape must be a list of non-negative integers",
  );
  throwsWith(
    () => decodeSafetensors(one('{"dtype":"F32","shape":[1.5],"data_offsets":[0,0]}'), F),
    "shape must be",
  );
  throwsWith(
    () => decodeSafetensors(one('{"dtype":"F32","shape":[1],"data_offsets":[0]}'), F),
    "data_offsets must be two non-negative integers",
  );
  throwsWith(
    () => decodeSafetensors(one('{"dtype":"F32","shape":[1],"data_offsets":[4,0]}'), F),
    "end before they begin",
  );
  throwsWith(
    () => decodeSafetensors(one('{"dtype":"F32","shape":[2],"data_offsets":[0,4]}', [0, 0, 0, 0])),
    "span 4 bytes but F32[2] needs 8",
  );
  throwsWith(
    () =>
      decodeSafetensors(
        one('{"dtype":"F32","shape":[1],"data_offsets":[4,8]}', [0, 0, 0, 0, 0, 0, 0, 0]),
        F,
      ),
    "gap in the data section",
  );
  throwsWith(
    () =>
      decodeSafetensors(
        handMade(
          '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
            '"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
          [0, 0, 0, 0, 0, 0, 0, 0],
        ),
        F,
      ),
    F,
    'tensor "b"',
    "overlap",
  );
  throwsWith(
    () =>
      decodeSafetensors(
        one('{"dtype":"F32","shape":[4],"data_offsets":[0,16]}', [0, 0, 0, 0]),
        F,
      ),
    F,
    "truncated file: the tensors need 16 data bytes but only 4 are present",
  );
  throwsWith(
    () => decodeSafetensors(handMade('{"__metadata__":{"k":1}}'), F),
    F,
    'metadata value of key "k" must be a string',
  );
  throwsWith(() => decodeSafetensors(handMade('{"__metadata__":[]}'), F), "metadata must be");
});

Deno.test("encodeSafetensors validates its input", () => {
  const t = (over: Record<string, unknown>) => ({
    name: "a",
    dtype: "F32" as const,
    shape: [2],
    data: new Float32Array(2),
    ...over,
  });
  // deno-lint-ignore no-explicit-any
  const enc = (ts: any[], md?: any) => encodeSafetensors(ts, md);
  throwsWith(() => enc([t({}), t({})]), 'duplicate tensor name "a"');
  throwsWith(() => enc([t({ name: "__metadata__" })]), "reserved");
  throwsWith(() => enc([t({ dtype: "F64" })]), "dtype F64 but its data is a Float32Array");
  throwsWith(() => enc([t({ dtype: "BF16" })]), "unsupported dtype BF16");
  throwsWith(() => enc([t({ shape: [3] })]), "2 values but shape [3] needs 3");
  throwsWith(() => enc([t({ shape: [-2] })]), "invalid shape [-2]");
  throwsWith(() => enc([t({})], { k: 5 }), 'metadata value of key "k"', "the number 5");
  throwsWith(() => enc([t({})], null), "metadata must be an object");
});
