/** Connection types of a channel: single (multiplexed), pooled and short. */
import { log } from "../log.js";
import type { Connection, ConnectionOwner } from "../transport/connection.js";
import type { ConnectionSource, ConnectionType } from "./channel-core.js";

/** Opens a new connection owned by the given owner. */
export type Opener = (owner: ConnectionOwner, connectTimeoutMs: number) => Promise<Connection>;

/** One connection shared by every call (brpc "single"); reconnects lazily after a failure. */
class SingleSource implements ConnectionSource, ConnectionOwner {
  #conn: Connection | undefined;
  #connecting: Promise<Connection> | undefined;
  #closed = false;
  readonly #open: Opener;

  constructor(open: Opener) {
    this.#open = open;
  }

  ready(): Connection | undefined {
    return this.#conn;
  }

  acquire(connectTimeoutMs: number): Promise<Connection> {
    if (this.#conn !== undefined) return Promise.resolve(this.#conn);
    if (this.#connecting === undefined) {
      const p = this.#open(this, connectTimeoutMs).then(
        (c) => {
          this.#connecting = undefined;
          if (this.#closed) {
            c.close();
          } else if (!c.failed) {
            this.#conn = c;
          }
          return c;
        },
        (err: unknown) => {
          this.#connecting = undefined;
          throw err;
        },
      );
      this.#connecting = p;
    }
    return this.#connecting;
  }

  release(): void {}

  onConnectionFailed(conn: Connection): void {
    if (this.#conn === conn) this.#conn = undefined;
  }

  close(): void {
    this.#closed = true;
    this.#conn?.close();
    this.#conn = undefined;
  }
}

/** A connection per call at a time, kept for reuse (brpc "pooled"). */
class PooledSource implements ConnectionSource, ConnectionOwner {
  readonly #idle: Connection[] = [];
  readonly #all = new Set<Connection>();
  readonly #open: Opener;
  readonly #max: number;
  #closed = false;

  constructor(open: Opener, maxIdle: number) {
    this.#open = open;
    this.#max = maxIdle;
  }

  ready(): Connection | undefined {
    return this.#idle.pop();
  }

  acquire(connectTimeoutMs: number): Promise<Connection> {
    return this.#open(this, connectTimeoutMs).then((c) => {
      this.#all.add(c);
      if (this.#closed) c.close();
      return c;
    });
  }

  release(conn: Connection, responded: boolean): void {
    // A connection whose response never came may still deliver it later: never reuse it.
    if (!responded || conn.failed || this.#closed || this.#idle.length >= this.#max) {
      conn.close();
      return;
    }
    this.#idle.push(conn);
  }

  onConnectionFailed(conn: Connection): void {
    this.#all.delete(conn);
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
  }

  close(): void {
    this.#closed = true;
    for (const c of [...this.#all]) c.close();
    this.#idle.length = 0;
  }
}

/** A new connection for every call, closed afterwards (brpc "short"). */
class ShortSource implements ConnectionSource, ConnectionOwner {
  readonly #all = new Set<Connection>();
  readonly #open: Opener;
  #closed = false;

  constructor(open: Opener) {
    this.#open = open;
  }

  ready(): undefined {
    return undefined;
  }

  acquire(connectTimeoutMs: number): Promise<Connection> {
    return this.#open(this, connectTimeoutMs).then((c) => {
      this.#all.add(c);
      if (this.#closed) c.close();
      return c;
    });
  }

  release(conn: Connection): void {
    conn.close();
  }

  onConnectionFailed(conn: Connection): void {
    this.#all.delete(conn);
  }

  close(): void {
    this.#closed = true;
    for (const c of [...this.#all]) c.close();
  }
}

/** Create the source for a connection type. */
export function createConnectionSource(
  type: ConnectionType,
  open: Opener,
  maxPoolSize: number,
): ConnectionSource {
  switch (type) {
    case "single":
      return new SingleSource(open);
    case "pooled":
      return new PooledSource(open, maxPoolSize);
    case "short":
      return new ShortSource(open);
    default:
      log.error(`unknown connection type ${String(type)}`);
      throw new TypeError(`unknown connection type "${String(type)}" (use single, pooled or short)`);
  }
}
