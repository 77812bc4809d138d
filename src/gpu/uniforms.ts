/**
 * Packs a kernel's uniform `Params` struct following WGSL's uniform layout rules
 * (4-byte scalars; `array<vec4<u32>, K>` blocks start on a 16-byte boundary).
 *
 * @module
 */

/** Builds the bytes of a uniform block, field by field in declaration order. */
export class UniformWriter {
  #view = new DataView(new ArrayBuffer(256));
  #offset = 0;

  #room(bytes: number): void {
    if (this.#offset + bytes > 256) throw new Error("denet gpu: uniform block over 256 bytes");
  }

  /** Appends a u32. */
  u32(v: number): this {
    this.#room(4);
    this.#view.setUint32(this.#offset, v >>> 0, true);
    this.#offset += 4;
    return this;
  }

  /** Appends an i32. */
  i32(v: number): this {
    this.#room(4);
    this.#view.setInt32(this.#offset, v | 0, true);
    this.#offset += 4;
    return this;
  }

  /** Appends an f32. */
  f32(v: number): this {
    this.#room(4);
    this.#view.setFloat32(this.#offset, v, true);
    this.#offset += 4;
    return this;
  }

  /** Pads to a 16-byte boundary. */
  align16(): this {
    while (this.#offset % 16 !== 0) this.u32(0);
    return this;
  }

  /** Appends `array<vec4<u32>, slots/4>` holding `values` (zero-padded to `slots`). */
  u32Array(values: readonly number[], slots: number): this {
    if (values.length > slots) {
      throw new Error(
        `denet gpu: ${values.length} values do not fit a ${slots}-slot uniform array`,
      );
    }
    this.align16();
    for (let i = 0; i < slots; i++) this.u32(values[i] ?? 0);
    return this;
  }

  /** The packed bytes (length rounded up to 16). */
  build(): ArrayBuffer {
    this.align16();
    return this.#view.buffer.slice(0, Math.max(16, this.#offset)) as ArrayBuffer;
  }
}

/** Splits `groups` workgroups into a 2-D grid within the per-dimension limit. */
export function grid2d(groups: number, maxPerDim = 65535): [number, number] {
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}
