/**
 * Character-level text corpora: tinyshakespeare (Karpathy's char-rnn corpus) or any
 * local text file, as a sorted vocabulary and an Int32Array of character indices.
 *
 * Characters are Unicode code points (a surrogate pair is one character).
 *
 * @module
 */

import { ensureFile, type EnsureOptions, type FileSpec } from "./download.ts";
import { dataDir, type DirLike, toPath } from "./paths.ts";

/** tinyshakespeare.txt (the original char-rnn version, 1 115 394 bytes). */
export const TINY_SHAKESPEARE: FileSpec = Object.freeze({
  name: "tinyshakespeare.txt",
  url: "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
  bytes: 1115394,
  md5: "6fb458f1232090904fb40fe944165e91",
  sha256: "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
});

/** A character-level corpus. */
export interface TextCorpus {
  /** The distinct characters of the text, sorted by code point. */
  vocab: string[];
  /** The text as indices into {@link vocab}. */
  data: Int32Array;
  /** Indices of the characters of `s`; throws on a character not in the vocabulary. */
  encode(s: string): Int32Array;
  /** The text of indices into the vocabulary; throws on an index out of range. */
  decode(ids: ArrayLike<number>): string;
}

/** Options of {@link textCorpus}. */
export interface TextCorpusOptions extends EnsureOptions {
  /** A local text file to use instead of tinyshakespeare (read as UTF-8, not verified). */
  path?: DirLike;
  /** The directory of tinyshakespeare.txt (default: see `dataDir`, dataset `"text"`). */
  dir?: DirLike;
  /** Download tinyshakespeare from this URL instead (size and checksums are still checked). */
  url?: string;
}

function describe(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  return `${JSON.stringify(ch)} (U+${cp.toString(16).toUpperCase().padStart(4, "0")})`;
}

/**
 * A corpus from a string: the sorted distinct characters and the text as their indices.
 *
 * @param text the text (must not be empty)
 * @param name the source, for error messages
 * @returns the vocabulary, the indices and encode/decode functions
 */
export function charCorpus(text: string, name = "text"): TextCorpus {
  if (text.length === 0) throw new Error(`charCorpus: ${name} is empty`);
  const chars = Array.from(text);
  const vocab = [...new Set(chars)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
  const index = new Map<string, number>();
  vocab.forEach((c, i) => index.set(c, i));
  const data = new Int32Array(chars.length);
  for (let i = 0; i < chars.length; i++) data[i] = index.get(chars[i])!;
  const encode = (s: string): Int32Array => {
    const cs = Array.from(s);
    const out = new Int32Array(cs.length);
    for (let i = 0; i < cs.length; i++) {
      const id = index.get(cs[i]);
      if (id === undefined) {
        throw new Error(
          `encode: character ${
            describe(cs[i])
          } at position ${i} is not in the vocabulary of ${name}`,
        );
      }
      out[i] = id;
    }
    return out;
  };
  const decode = (ids: ArrayLike<number>): string => {
    let out = "";
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= vocab.length) {
        throw new Error(
          `decode: id ${id} at position ${i} is not a character index 0..${
            vocab.length - 1
          } of ${name}`,
        );
      }
      out += vocab[id];
    }
    return out;
  };
  return { vocab, data, encode, decode };
}

/**
 * A character-level corpus: tinyshakespeare (downloaded to `<dir>/tinyshakespeare.txt`
 * when missing, its size and checksums checked), or the local file `path`.
 *
 * @param opts `path`, or `dir`, `url`, `download`, `quiet`, `fetch`
 * @returns the vocabulary, the text as indices, and encode/decode
 */
export async function textCorpus(opts: TextCorpusOptions = {}): Promise<TextCorpus> {
  let path: string;
  if (opts.path !== undefined) {
    path = toPath(opts.path);
  } else {
    const spec = opts.url !== undefined ? { ...TINY_SHAKESPEARE, url: opts.url } : TINY_SHAKESPEARE;
    path = await ensureFile(dataDir("text", opts.dir), spec, opts);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(await Deno.readFile(path));
  } catch (e) {
    throw new Error(`textCorpus: cannot read ${path} as UTF-8 text: ${(e as Error).message}`);
  }
  return charCorpus(text, path);
}
