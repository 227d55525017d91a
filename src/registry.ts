/**
 * A case-insensitive registry of named plug-ins (protocols, compressors, later naming
 * services, load balancers, limiters), like brpc's `Extension<T>`.
 */
export class Registry<T> {
  readonly #items = new Map<string, T>();
  readonly #kind: string;

  /** `kind` names what is registered, for error messages ("protocol", "compressor"). */
  constructor(kind: string) {
    this.#kind = kind;
  }

  /** Register `item` under `name`; throws if the name is taken. */
  register(name: string, item: T): void {
    const key = name.toLowerCase();
    if (this.#items.has(key)) throw new Error(`${this.#kind} "${name}" is already registered`);
    this.#items.set(key, item);
  }

  /** Register unless the name is taken (used by the idempotent built-in setup). */
  registerIfAbsent(name: string, item: T): void {
    const key = name.toLowerCase();
    if (!this.#items.has(key)) this.#items.set(key, item);
  }

  /** The item registered under `name`, or undefined. */
  find(name: string): T | undefined {
    return this.#items.get(name.toLowerCase());
  }

  /** The item registered under `name`; throws a clear error otherwise. */
  get(name: string): T {
    const item = this.find(name);
    if (item === undefined) {
      throw new Error(`unknown ${this.#kind} "${name}" (known: ${this.names().join(", ")})`);
    }
    return item;
  }

  /** Registered names, in registration order. */
  names(): string[] {
    return [...this.#items.keys()];
  }

  /** Registered items, in registration order. */
  list(): T[] {
    return [...this.#items.values()];
  }
}
