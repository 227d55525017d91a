import { Registry } from "../registry.js";

/**
 * brpc's CompressType values, as carried in `RpcMeta.compress_type`.
 * LZ4 (4) exists in the enum but brpc registers no handler for it.
 */
export const CompressType = {
  NONE: 0,
  SNAPPY: 1,
  GZIP: 2,
  ZLIB: 3,
  LZ4: 4,
} as const;

/** A compression algorithm selectable by number (on the wire) and by name (in options). */
export interface Compressor {
  /** Wire number (`RpcMeta.compress_type`). */
  readonly type: number;
  /** Name used in options and logs, e.g. "snappy". */
  readonly name: string;
  /** Compress `data`. */
  compress(data: Uint8Array): Buffer;
  /** Decompress `data`; throws if the result would exceed `maxSize` bytes or the input is corrupt. */
  decompress(data: Uint8Array, maxSize: number): Buffer;
}

/** Compressors by name. Built-ins are registered by `registerBuiltins()` (src/global.ts). */
export const compressors = new Registry<Compressor>("compressor");
const byType: (Compressor | undefined)[] = [];

/** Register a compressor under its name and wire number. */
export function registerCompressor(c: Compressor): void {
  if (byType[c.type] !== undefined) {
    throw new Error(`compress type ${c.type} is already registered as "${byType[c.type]?.name}"`);
  }
  compressors.register(c.name, c);
  byType[c.type] = c;
}

/** The compressor for wire number `type`, or undefined when none is registered (0 = none). */
export function compressorOf(type: number): Compressor | undefined {
  return byType[type];
}

/**
 * Resolve a compress type given as a number or a name ("snappy", "gzip", "zlib", "none").
 * Throws for types without a registered compressor.
 */
export function compressTypeOf(v: number | string | undefined): number {
  if (v === undefined) return CompressType.NONE;
  if (typeof v === "number") {
    if (v !== CompressType.NONE && byType[v] === undefined) {
      throw new Error(`no compressor is registered for compress type ${v}`);
    }
    return v;
  }
  if (v.toLowerCase() === "none") return CompressType.NONE;
  return compressors.get(v).type;
}

/** brpc's `CompressTypeToCStr`. */
export function compressTypeName(type: number): string {
  if (type === 0) return "none";
  return byType[type]?.name ?? "unknown";
}
