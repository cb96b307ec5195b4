/**
 * Tools for corrupting model folders on purpose and for watching what loading them does: safetensors
 * header surgery, JSON edits, truncation, a time limit, and an allocation guard that refuses any single
 * typed-array or ArrayBuffer allocation above a byte limit (so a file claiming petabytes cannot make the
 * loader allocate for the claim). Used by `tests/model/file_fuzz_test.ts` and `deno task fuzz:files`.
 * @module
 */
import { join } from "node:path";

/** A safetensors file split into its header object and its data region. */
export interface St {
  /** The header (tensor entries, and `__metadata__` when present). */
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  /** The bytes after the header. */
  data: Uint8Array;
}

/**
 * Reads a (valid) safetensors file.
 * @param path The file.
 * @returns Header and data.
 */
export async function readSt(path: string): Promise<St> {
  const b = await Deno.readFile(path);
  const n = Number(new DataView(b.buffer).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n))), data: b.subarray(8 + n) };
}

/**
 * Writes a safetensors file from any header text or object, possibly with a lying length prefix.
 * @param path The file.
 * @param header JSON text or an object.
 * @param data The data region.
 * @param length The length prefix to write (default: the header's real length).
 */
export async function writeSt(
  path: string,
  header: unknown,
  data: Uint8Array,
  length?: bigint,
): Promise<void> {
  const h = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  await Deno.writeFile(path, out);
}

/**
 * Rewrites a safetensors header in place (the data region is kept).
 * @param path The file.
 * @param edit Changes the parsed file.
 */
export async function editSt(path: string, edit: (s: St) => void): Promise<void> {
  const s = await readSt(path);
  edit(s);
  await writeSt(path, s.header, s.data);
}

/**
 * Rewrites a JSON file.
 * @param path The file.
 * @param edit Changes the object in place, or returns a replacement.
 */
export async function editJson(path: string, edit: (j: Record<string, unknown>) => unknown): Promise<void> {
  const j = JSON.parse(await Deno.readTextFile(path));
  const out = edit(j);
  await Deno.writeTextFile(path, JSON.stringify(out === undefined ? j : out));
}

/**
 * Cuts a file.
 * @param path The file.
 * @param length Bytes to keep.
 */
export async function truncateTo(path: string, length: number): Promise<void> {
  const b = await Deno.readFile(path);
  await Deno.writeFile(path, b.subarray(0, Math.max(0, Math.floor(length))));
}

/**
 * Total size of the files of a folder.
 * @param dir The folder.
 * @returns Bytes.
 */
export async function folderBytes(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) if (e.isFile) n += (await Deno.stat(join(dir, e.name))).size;
  return n;
}

/**
 * Copies the files of a folder (not sub-folders; ONNX exports are skipped) into a new folder.
 * @param src Source folder.
 * @param dst Destination (created).
 * @returns `dst`.
 */
export async function copyFolder(src: string, dst: string): Promise<string> {
  await Deno.mkdir(dst, { recursive: true });
  for await (const e of Deno.readDir(src)) {
    if (e.isFile && !e.name.endsWith(".onnx")) await Deno.copyFile(join(src, e.name), join(dst, e.name));
  }
  return dst;
}

/**
 * Rejects when `p` takes longer than `ms`.
 * @param p The work.
 * @param ms Limit.
 * @param what For the message.
 * @returns What `p` resolves to.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms (hang)`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Thrown by {@link withAllocationLimit}'s guard (never by the code under test). */
export class AllocationTooLarge extends Error {}

const GUARDED = [
  "ArrayBuffer",
  "Uint8Array",
  "Uint16Array",
  "Uint32Array",
  "Int32Array",
  "Float32Array",
  "Float64Array",
];

/**
 * Runs `fn` with typed-array and ArrayBuffer constructors that throw {@link AllocationTooLarge} for any
 * single allocation above `limit` bytes. Only for tests and tools: it swaps globals while `fn` runs.
 * @param limit Largest allowed allocation in bytes.
 * @param fn The work.
 * @returns What `fn` returns.
 */
export async function withAllocationLimit<T>(limit: number, fn: () => Promise<T>): Promise<T> {
  const g = globalThis as unknown as Record<string, unknown>;
  const saved = GUARDED.map((k) => [k, g[k]] as const);
  for (const [k, ctor] of saved) {
    const bpe = (ctor as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    g[k] = new Proxy(ctor as object, {
      construct(target, args, newTarget) {
        const a = args[0];
        const n = typeof a === "number"
          ? a
          : a && typeof a === "object" && !(a instanceof ArrayBuffer) && !ArrayBuffer.isView(a) &&
              typeof (a as { length?: unknown }).length === "number"
          ? (a as { length: number }).length
          : 0;
        if (n * bpe > limit) {
          throw new AllocationTooLarge(`new ${k}(${n}) = ${n * bpe} bytes > limit ${limit}`);
        }
        return Reflect.construct(target as new (...a: unknown[]) => object, args, newTarget);
      },
    });
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) g[k] = v;
  }
}
