import { crc32c } from "@node-rs/crc32";

/** brpc's ChecksumType values (`RpcMeta.checksum_type`). */
export const ChecksumType = { NONE: 0, CRC32C: 1 } as const;

const MASK_DELTA = 0xa282ead8;

/** brpc's `ChecksumTypeToCStr`. */
export function checksumTypeName(type: number): string {
  return type === 0 ? "none" : type === 1 ? "crc32c" : "unknown";
}

/** CRC32C of `data`, continuing from `crc` (0 to start). */
export function crc32cUpdate(crc: number, data: Uint8Array): number {
  if (data.length === 0) return crc;
  return crc32c(Buffer.from(data.buffer, data.byteOffset, data.byteLength), crc) >>> 0;
}

/** LevelDB-style mask brpc applies before putting a CRC32C on the wire. */
export function maskCrc(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + MASK_DELTA) >>> 0;
}

/** Inverse of {@link maskCrc}. */
export function unmaskCrc(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}
