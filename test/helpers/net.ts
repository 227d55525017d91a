/** Socket helpers for tests: raw TCP clients that send bytes and collect what comes back. */
import { connect, type Socket } from "node:net";

/** A raw TCP client. */
export class RawClient {
  readonly socket: Socket;
  #buf = Buffer.alloc(0);
  #closed = false;
  #waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#wake();
    });
    socket.on("close", () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on("error", () => {});
  }

  /** Connect to `port` on 127.0.0.1 (or a unix path). */
  static async connect(target: number | string): Promise<RawClient> {
    const s =
      typeof target === "number" ? connect({ port: target, host: "127.0.0.1" }) : connect({ path: target });
    await new Promise<void>((resolve, reject) => {
      s.once("connect", resolve);
      s.once("error", reject);
    });
    return new RawClient(s);
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Bytes received so far. */
  get received(): Buffer {
    return this.#buf;
  }

  /** True once the server closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  write(b: Uint8Array): void {
    this.socket.write(b);
  }

  /** Wait until `pred()` holds or `ms` pass; returns whether it held. */
  async waitFor(pred: () => boolean, ms = 3000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }

  /** Wait until at least `n` bytes arrived. */
  async waitBytes(n: number, ms = 3000): Promise<Buffer> {
    await this.waitFor(() => this.#buf.length >= n, ms);
    return this.#buf;
  }

  /** Wait until the server closes the connection. */
  async waitClosed(ms = 3000): Promise<boolean> {
    return this.waitFor(() => this.#closed, ms);
  }

  close(): void {
    this.socket.destroy();
  }
}
