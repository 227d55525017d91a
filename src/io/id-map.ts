/**
 * A map from positive integer ids (< 2^53) to values, with open addressing and
 * backward-shift deletion: no allocation per insert or delete once it has grown,
 * unlike `Map`, whose tables churn under constant insert/delete traffic.
 */
export class IdMap<V> {
  #keys: Float64Array;
  #values: (V | undefined)[];
  #mask: number;
  #size = 0;

  constructor(capacity = 64) {
    let cap = 16;
    while (cap < capacity * 2) cap <<= 1;
    this.#keys = new Float64Array(cap);
    this.#values = new Array<V | undefined>(cap).fill(undefined);
    this.#mask = cap - 1;
  }

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  #slot(id: number): number {
    // Fibonacci hashing spreads sequential ids.
    return (Math.imul(id >>> 0, 0x9e3779b1) >>> 0) & this.#mask;
  }

  get(id: number): V | undefined {
    const keys = this.#keys;
    const mask = this.#mask;
    for (let i = this.#slot(id); ; i = (i + 1) & mask) {
      const k = keys[i] as number;
      if (k === id) return this.#values[i];
      if (k === 0) return undefined;
    }
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /** Insert or replace. `id` must be an integer in [1, 2^53). */
  set(id: number, v: V): void {
    if ((this.#size + 1) * 2 > this.#keys.length) this.#grow();
    const keys = this.#keys;
    const mask = this.#mask;
    for (let i = this.#slot(id); ; i = (i + 1) & mask) {
      const k = keys[i] as number;
      if (k === id) {
        this.#values[i] = v;
        return;
      }
      if (k === 0) {
        keys[i] = id;
        this.#values[i] = v;
        this.#size++;
        return;
      }
    }
  }

  /** Remove `id`; returns whether it was present. */
  delete(id: number): boolean {
    const keys = this.#keys;
    const values = this.#values;
    const mask = this.#mask;
    let i = this.#slot(id);
    for (;;) {
      const k = keys[i] as number;
      if (k === 0) return false;
      if (k === id) break;
      i = (i + 1) & mask;
    }
    // Backward-shift: move later entries of the cluster into the hole.
    let hole = i;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const k = keys[j] as number;
      if (k === 0) break;
      const home = this.#slot(k);
      // Can k move to the hole? Only if its home is not in (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        keys[hole] = k;
        values[hole] = values[j];
        hole = j;
      }
    }
    keys[hole] = 0;
    values[hole] = undefined;
    this.#size--;
    return true;
  }

  /** Values, in no particular order. */
  values(): V[] {
    const out: V[] = [];
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== 0) out.push(this.#values[i] as V);
    return out;
  }

  /** Remove everything. */
  clear(): void {
    this.#keys.fill(0);
    this.#values.fill(undefined);
    this.#size = 0;
  }

  #grow(): void {
    const oldKeys = this.#keys;
    const oldValues = this.#values;
    const cap = oldKeys.length * 2;
    this.#keys = new Float64Array(cap);
    this.#values = new Array<V | undefined>(cap).fill(undefined);
    this.#mask = cap - 1;
    this.#size = 0;
    for (let i = 0; i < oldKeys.length; i++) {
      const k = oldKeys[i] as number;
      if (k !== 0) this.set(k, oldValues[i] as V);
    }
  }
}
