/**
 * HPACK header compression (RFC 7541).
 *
 * Header lists are flat arrays `[name0, value0, name1, value1, ...]` of latin1 strings (one
 * char per octet, names lower-case): no per-header objects on either side. Sizes are in
 * octets, i.e. string lengths.
 *
 * Decoding errors throw an {@link H2Error} with COMPRESSION_ERROR (a connection error: the
 * decoder's table can no longer be trusted).
 */
import { Writer } from "../../io/writer.js";
import { H2Error, H2ErrorCode } from "./frame.js";
import { huffmanDecode, huffmanEncodeInto, huffmanLength } from "./huffman.js";

/** The static table (RFC 7541 Appendix A), flat name/value pairs, index 1 first. */
// biome-ignore format: a table
export const STATIC_TABLE: readonly string[] = [
  ":authority", "",
  ":method", "GET",
  ":method", "POST",
  ":path", "/",
  ":path", "/index.html",
  ":scheme", "http",
  ":scheme", "https",
  ":status", "200",
  ":status", "204",
  ":status", "206",
  ":status", "304",
  ":status", "400",
  ":status", "404",
  ":status", "500",
  "accept-charset", "",
  "accept-encoding", "gzip, deflate",
  "accept-language", "",
  "accept-ranges", "",
  "accept", "",
  "access-control-allow-origin", "",
  "age", "",
  "allow", "",
  "authorization", "",
  "cache-control", "",
  "content-disposition", "",
  "content-encoding", "",
  "content-language", "",
  "content-length", "",
  "content-location", "",
  "content-range", "",
  "content-type", "",
  "cookie", "",
  "date", "",
  "etag", "",
  "expect", "",
  "expires", "",
  "from", "",
  "host", "",
  "if-match", "",
  "if-modified-since", "",
  "if-none-match", "",
  "if-range", "",
  "if-unmodified-since", "",
  "last-modified", "",
  "link", "",
  "location", "",
  "max-forwards", "",
  "proxy-authenticate", "",
  "proxy-authorization", "",
  "range", "",
  "referer", "",
  "refresh", "",
  "retry-after", "",
  "server", "",
  "set-cookie", "",
  "strict-transport-security", "",
  "transfer-encoding", "",
  "user-agent", "",
  "vary", "",
  "via", "",
  "www-authenticate", "",
];

/** Number of static table entries (61). */
export const STATIC_COUNT = STATIC_TABLE.length >>> 1;

/** Entry overhead in table size accounting (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;

// name -> first static index; name -> (value -> static index) for entries with a value.
const STATIC_NAME = new Map<string, number>();
const STATIC_EXACT = new Map<string, Map<string, number>>();
for (let i = 0; i < STATIC_COUNT; i++) {
  const name = STATIC_TABLE[2 * i]!;
  const value = STATIC_TABLE[2 * i + 1]!;
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1);
  let m = STATIC_EXACT.get(name);
  if (m === undefined) {
    m = new Map();
    STATIC_EXACT.set(name, m);
  }
  if (!m.has(value)) m.set(value, i + 1);
}

const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (start: number, end: number) => string })
  .latin1Slice;

function compressionError(msg: string): H2Error {
  return new H2Error(H2ErrorCode.COMPRESSION_ERROR, msg);
}

/**
 * The dynamic table: a ring of entries, newest at `head`. Index 1 of the dynamic table
 * (HPACK index 62) is the newest entry.
 */
export class DynamicTable {
  names: string[] = new Array(16);
  values: string[] = new Array(16);
  /** Ring position of the newest entry. */
  head = 0;
  /** Number of entries. */
  length = 0;
  /** Sum of entry sizes (name + value + 32). */
  size = 0;
  /** Maximum size currently in effect. */
  maxSize: number;
  /** Entries ever inserted (the insertion number of the next entry). */
  inserted = 0;
  /** Called with the insertion number of each evicted entry (the encoder's index maintenance). */
  onEvict: ((insertion: number, name: string, value: string) => void) | null = null;

  constructor(maxSize: number) {
    this.maxSize = maxSize;
  }

  /** Name of dynamic entry `i` (1 = newest). */
  name(i: number): string {
    return this.names[(this.head - i + 1 + this.names.length) & (this.names.length - 1)]!;
  }

  /** Value of dynamic entry `i` (1 = newest). */
  value(i: number): string {
    return this.values[(this.head - i + 1 + this.names.length) & (this.names.length - 1)]!;
  }

  /** Set the maximum size, evicting as needed. */
  setMaxSize(n: number): void {
    this.maxSize = n;
    this.evictTo(n);
  }

  private evictTo(limit: number): void {
    const mask = this.names.length - 1;
    while (this.size > limit && this.length > 0) {
      const at = (this.head - this.length + 1 + this.names.length) & mask;
      const name = this.names[at]!;
      const value = this.values[at]!;
      this.size -= name.length + value.length + ENTRY_OVERHEAD;
      this.names[at] = "";
      this.values[at] = "";
      this.length--;
      if (this.onEvict !== null) this.onEvict(this.inserted - this.length - 1, name, value);
    }
  }

  /** Insert an entry (evicting older ones; an entry larger than the table empties it, §4.4). */
  add(name: string, value: string): void {
    const sz = name.length + value.length + ENTRY_OVERHEAD;
    if (sz > this.maxSize) {
      this.evictTo(0);
      this.inserted++;
      if (this.onEvict !== null) this.onEvict(this.inserted - 1, name, value);
      return;
    }
    this.evictTo(this.maxSize - sz);
    if (this.length === this.names.length) this.grow();
    this.head = (this.head + 1) & (this.names.length - 1);
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.length++;
    this.size += sz;
    this.inserted++;
  }

  private grow(): void {
    const n = this.names.length;
    const names = new Array<string>(n * 2);
    const values = new Array<string>(n * 2);
    for (let i = 0; i < this.length; i++) {
      const at = (this.head - i + n) & (n - 1);
      names[this.length - 1 - i] = this.names[at]!;
      values[this.length - 1 - i] = this.values[at]!;
    }
    this.names = names;
    this.values = values;
    this.head = this.length - 1;
  }

  /** Entries newest first as flat `[name, value, ...]` (tests). */
  entries(): string[] {
    const out: string[] = [];
    for (let i = 1; i <= this.length; i++) out.push(this.name(i), this.value(i));
    return out;
  }
}

/** Decoder options. */
export interface HpackDecoderOptions {
  /** The SETTINGS_HEADER_TABLE_SIZE we advertise: the limit for table size updates (default 4096). */
  maxTableSize?: number;
  /** Header list size (sum of name + value + 32) beyond which headers are dropped (default unlimited). */
  maxHeaderListSize?: number;
}

/**
 * HPACK decoder: one per connection direction.
 *
 * `decode` appends the block's headers to `out` and returns the header list size
 * (RFC 9113 §6.5.2). When that size exceeds `maxHeaderListSize` the block is still fully
 * decoded (the table must stay in sync) but no more headers are appended once over the
 * limit, and {@link HpackDecoder.oversized} is set: the caller refuses the stream.
 */
export class HpackDecoder {
  readonly table: DynamicTable;
  /** Upper bound for size updates (our SETTINGS_HEADER_TABLE_SIZE). */
  maxTableSize: number;
  maxHeaderListSize: number;
  /** The last decoded block went over `maxHeaderListSize`. */
  oversized = false;
  #p = 0;

  constructor(opts: HpackDecoderOptions = {}) {
    this.maxTableSize = opts.maxTableSize ?? 4096;
    this.maxHeaderListSize = opts.maxHeaderListSize ?? Number.POSITIVE_INFINITY;
    this.table = new DynamicTable(this.maxTableSize);
  }

  /** Reused by {@link decodeList}: fields past the count are stale. */
  readonly #scratch: string[] = [];

  /** Decode the header block in `[start, end)` of `buf` into a new flat list (sized exactly). */
  decodeList(buf: Uint8Array, start: number, end: number): string[] {
    const scratch = this.#scratch;
    const n = this.#decode(buf, start, end, scratch, 0);
    return scratch.slice(0, n);
  }

  /** Decode the header block in `[start, end)` of `buf`, appending to `out`; returns the header list size. */
  decode(buf: Uint8Array, start: number, end: number, out: string[]): number {
    this.#decode(buf, start, end, out, out.length);
    return this.#listSize;
  }

  #listSize = 0;

  /** Decode into `out` from index `at`; returns the index after the last field (list size in #listSize). */
  #decode(buf: Uint8Array, start: number, end: number, out: string[], at: number): number {
    this.#p = start;
    this.oversized = false;
    const table = this.table;
    const limit = this.maxHeaderListSize;
    let listSize = 0;
    let first = true;
    while (this.#p < end) {
      const b = buf[this.#p]!;
      let name: string;
      let value: string;
      if (b >= 0x80) {
        // Indexed header field (§6.1).
        const idx = this.int(buf, end, 7);
        if (idx === 0) throw compressionError("index 0");
        if (idx <= STATIC_COUNT) {
          name = STATIC_TABLE[2 * idx - 2]!;
          value = STATIC_TABLE[2 * idx - 1]!;
        } else {
          const d = idx - STATIC_COUNT;
          if (d > table.length) throw compressionError(`index ${idx} out of range`);
          name = table.name(d);
          value = table.value(d);
        }
      } else if (b >= 0x40 || b < 0x20) {
        // Literal with incremental indexing (§6.2.1), without indexing / never indexed (§6.2.2-3).
        const indexing = b >= 0x40;
        const idx = this.int(buf, end, indexing ? 6 : 4);
        if (idx === 0) {
          name = this.str(buf, end);
        } else if (idx <= STATIC_COUNT) {
          name = STATIC_TABLE[2 * idx - 2]!;
        } else {
          const d = idx - STATIC_COUNT;
          if (d > table.length) throw compressionError(`name index ${idx} out of range`);
          name = table.name(d);
        }
        value = this.str(buf, end);
        if (indexing) table.add(name, value);
      } else {
        // Dynamic table size update (§6.3): only at the start of a block.
        if (!first) throw compressionError("table size update after a header");
        const n = this.int(buf, end, 5);
        if (n > this.maxTableSize)
          throw compressionError(`table size update to ${n} over ${this.maxTableSize}`);
        table.setMaxSize(n);
        continue;
      }
      first = false;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > limit) this.oversized = true;
      else {
        out[at++] = name;
        out[at++] = value;
      }
    }
    this.#listSize = listSize;
    return at;
  }

  /** An integer with an `n`-bit prefix at the current position (§5.1). */
  private int(buf: Uint8Array, end: number, n: number): number {
    const mask = (1 << n) - 1;
    let v = buf[this.#p++]! & mask;
    if (v < mask) return v;
    let shift = 0;
    for (;;) {
      if (this.#p >= end) throw compressionError("truncated integer");
      const b = buf[this.#p++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (v > 0xffffffff) throw compressionError("integer overflow");
      if ((b & 0x80) === 0) return v;
      shift += 7;
      if (shift > 28) throw compressionError("integer overflow");
    }
  }

  /** A string literal at the current position (§5.2). */
  private str(buf: Uint8Array, end: number): string {
    if (this.#p >= end) throw compressionError("truncated header block");
    const huffman = (buf[this.#p]! & 0x80) !== 0;
    const len = this.int(buf, end, 7);
    const s = this.#p;
    if (len > end - s) throw compressionError("string longer than the header block");
    this.#p = s + len;
    if (huffman) return huffmanDecode(buf, s, s + len);
    return latin1Slice.call(buf, s, s + len);
  }
}

/** Headers indexed by default by the encoder: they repeat on every request/response of a gRPC connection. */
export const DEFAULT_INDEXED_HEADERS: readonly string[] = [
  ":authority",
  ":path",
  "content-type",
  "accept",
  "te",
  "user-agent",
  "grpc-encoding",
  "grpc-accept-encoding",
  "accept-encoding",
  "grpc-status",
  "content-encoding",
  "server",
];

/** Headers encoded "never indexed" (§6.2.3) by default. */
export const DEFAULT_SENSITIVE_HEADERS: readonly string[] = [
  "authorization",
  "cookie",
  "proxy-authorization",
];

/** Encoder options. */
export interface HpackEncoderOptions {
  /** Names whose fields enter the dynamic table (default {@link DEFAULT_INDEXED_HEADERS}). */
  indexed?: Iterable<string>;
  /** Names always sent as "never indexed" literals (default {@link DEFAULT_SENSITIVE_HEADERS}). */
  sensitive?: Iterable<string>;
  /** Huffman-code string literals when that is shorter (default true). */
  huffman?: boolean;
  /** Upper bound on our table size whatever the peer allows (default 4096). */
  maxTableSize?: number;
}

/**
 * HPACK encoder: one per connection direction.
 *
 * Fields found in the static table with their value are indexed; fields whose name is in
 * the `indexed` set go through the dynamic table (indexed when present, else a literal
 * with incremental indexing); sensitive fields are "never indexed" literals; anything else
 * is a literal without indexing (name from the static table when possible).
 */
const PLAIN = 0;
const INDEXED = 1;
const SENSITIVE = 2;

/** What the encoder knows about one header name: one map lookup per field. */
class NameInfo {
  /** Static index of the name (0 = none). */
  readonly staticName: number;
  /** Static entries of this name by value. */
  readonly staticValues: Map<string, number> | null;
  readonly mode: number;
  /** value -> insertion number, for live dynamic entries (INDEXED names). */
  dyn: Map<string, number> | null = null;
  /** Insertion number of the newest live dynamic entry with this name, or -1. */
  dynName = -1;
  constructor(staticName: number, staticValues: Map<string, number> | null, mode: number) {
    this.staticName = staticName;
    this.staticValues = staticValues;
    this.mode = mode;
  }
}

/** Infos of the static names, for names neither indexed nor sensitive (never mutated). */
const STATIC_INFO = new Map<string, NameInfo>();
for (const [name, idx] of STATIC_NAME)
  STATIC_INFO.set(name, new NameInfo(idx, STATIC_EXACT.get(name) ?? null, PLAIN));

export class HpackEncoder {
  readonly table: DynamicTable;
  readonly #huffman: boolean;
  readonly #cap: number;
  /** Static, indexed and sensitive names. */
  readonly #names: Map<string, NameInfo>;
  /** Smallest table size since the last block and the size to announce, or -1 (§4.2). */
  #pendingMin = -1;
  #pendingSize = -1;
  /** Encoded string literals of names sent as literals. */
  readonly #nameCache = new Map<string, Buffer>();
  readonly #scratch = new Writer(1024);

  constructor(opts: HpackEncoderOptions = {}) {
    const indexed = new Set(opts.indexed ?? DEFAULT_INDEXED_HEADERS);
    const sensitive = new Set(opts.sensitive ?? DEFAULT_SENSITIVE_HEADERS);
    // Plain static names share immutable infos; indexed and sensitive ones get their own.
    this.#names = new Map(STATIC_INFO);
    for (const name of new Set([...indexed, ...sensitive])) {
      const mode = sensitive.has(name) ? SENSITIVE : INDEXED;
      this.#names.set(name, new NameInfo(STATIC_NAME.get(name) ?? 0, STATIC_EXACT.get(name) ?? null, mode));
    }
    this.#huffman = opts.huffman ?? true;
    this.#cap = opts.maxTableSize ?? 4096;
    this.table = new DynamicTable(Math.min(4096, this.#cap));
    if (this.table.maxSize !== 4096) {
      this.#pendingMin = this.table.maxSize;
      this.#pendingSize = this.table.maxSize;
    }
    this.table.onEvict = (ins, name, value) => {
      const info = this.#names.get(name);
      if (info === undefined) return;
      if (info.dyn !== null && info.dyn.get(value) === ins) info.dyn.delete(value);
      if (info.dynName === ins) info.dynName = -1;
    };
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE: our table uses min(peer, our cap); a size update
   * goes at the start of the next block (the smallest size in between first, §4.2).
   */
  setPeerTableSize(peer: number): void {
    const n = Math.min(peer, this.#cap);
    if (n === this.table.maxSize && this.#pendingSize < 0) return;
    this.#pendingMin = this.#pendingMin < 0 ? n : Math.min(this.#pendingMin, n);
    this.#pendingSize = n;
    this.table.setMaxSize(n);
  }

  /** Encode the flat header list `headers` into `w`. */
  encode(headers: readonly string[], w: Writer): void {
    if (this.#pendingSize >= 0) {
      if (this.#pendingMin < this.#pendingSize) writeInt(w, 0x20, 5, this.#pendingMin);
      writeInt(w, 0x20, 5, this.#pendingSize);
      this.#pendingMin = -1;
      this.#pendingSize = -1;
    }
    const table = this.table;
    const names = this.#names;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      const value = headers[i + 1]!;
      const info = names.get(name);
      if (info === undefined) {
        this.literal(w, 0x00, 4, name, value, 0);
        continue;
      }
      if (info.staticValues !== null) {
        const idx = info.staticValues.get(value);
        if (idx !== undefined) {
          writeInt(w, 0x80, 7, idx);
          continue;
        }
      }
      if (info.mode === INDEXED) {
        const dyn = info.dyn;
        if (dyn !== null) {
          const ins = dyn.get(value);
          if (ins !== undefined) {
            writeInt(w, 0x80, 7, STATIC_COUNT + table.inserted - ins);
            continue;
          }
        }
        let nameIdx = info.staticName;
        if (nameIdx === 0 && info.dynName >= 0) nameIdx = STATIC_COUNT + table.inserted - info.dynName;
        this.literal(w, 0x40, 6, name, value, nameIdx);
        const ins = table.inserted;
        table.add(name, value);
        if (name.length + value.length + ENTRY_OVERHEAD <= table.maxSize) {
          // Present in the table (not larger than it): remember it.
          if (dyn === null) info.dyn = new Map([[value, ins]]);
          else dyn.set(value, ins);
          info.dynName = ins;
        }
      } else {
        this.literal(w, info.mode === SENSITIVE ? 0x10 : 0x00, 4, name, value, info.staticName);
      }
    }
  }

  /** A literal field: `prefix` bits with `n`-bit name index (0 = literal name), then the value. */
  private literal(w: Writer, prefix: number, n: number, name: string, value: string, nameIdx: number): void {
    writeInt(w, prefix, n, nameIdx);
    if (nameIdx === 0) {
      // Literal names repeat (grpc-timeout, grpc-message, custom metadata): cache their encoding.
      let enc = this.#nameCache.get(name);
      if (enc === undefined) {
        const sw = this.#scratch;
        this.str(sw, name);
        enc = Buffer.from(sw.take());
        if (this.#nameCache.size >= 256) this.#nameCache.clear();
        this.#nameCache.set(name, enc);
      }
      w.raw(enc);
    }
    this.str(w, value);
  }

  private str(w: Writer, s: string): void {
    const len = s.length;
    if (this.#huffman && len > 2) {
      const hl = huffmanLength(s);
      if (hl <= len) {
        writeInt(w, 0x80, 7, hl);
        w.ensure(hl);
        w.pos = huffmanEncodeInto(s, w.buf, w.pos);
        return;
      }
    }
    writeInt(w, 0x00, 7, len);
    w.ensure(len);
    const b = w.buf;
    let p = w.pos;
    if (len < 48) {
      for (let i = 0; i < len; i++) b[p++] = s.charCodeAt(i);
      w.pos = p;
    } else {
      w.pos += b.write(s, p, "latin1");
    }
  }
}

/** Write integer `v` with an `n`-bit prefix, the high bits of the first byte being `prefix` (§5.1). */
export function writeInt(w: Writer, prefix: number, n: number, v: number): void {
  const max = (1 << n) - 1;
  w.ensure(6);
  const b = w.buf;
  if (v < max) {
    b[w.pos++] = prefix | v;
    return;
  }
  b[w.pos++] = prefix | max;
  v -= max;
  while (v >= 128) {
    b[w.pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  b[w.pos++] = v;
}
