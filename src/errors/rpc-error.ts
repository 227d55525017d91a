import { describeError, errorName } from "./errno.js";

/**
 * The error every failed RPC rejects with. `code` is brpc's numeric error code
 * (`ErrorCode.ERPCTIMEDOUT === 1008`), `text` is brpc's error text, e.g.
 * `"[E1008]Reached timeout=100ms @127.0.0.1:8000"`; `message` is the same text.
 */
export class RpcError extends Error {
  /** brpc error code. */
  readonly code: number;
  /** Error text as brpc formats it (what `Controller::ErrorText()` returns). */
  readonly text: string;

  constructor(code: number, text?: string, options?: { cause?: unknown }) {
    const t = text ?? describeError(code);
    super(t, options);
    this.code = code;
    this.text = t;
  }

  /** Name of the code, e.g. `"ELIMIT"`. */
  get codeName(): string {
    return errorName(this.code);
  }

  override get name(): string {
    return "RpcError";
  }

  /** `err` as an RpcError: itself, or wrapped with `fallbackCode` (default EINTERNAL). */
  static from(err: unknown, fallbackCode = 2001): RpcError {
    if (err instanceof RpcError) return err;
    const text = err instanceof Error ? err.message : String(err);
    return new RpcError(fallbackCode, text, { cause: err });
  }

  static {
    // instanceof works across duplicate installs of this package.
    const brand = Symbol.for("brpc-ts.RpcError");
    Object.defineProperty(RpcError.prototype, brand, { value: true });
    Object.defineProperty(RpcError, Symbol.hasInstance, {
      value: (v: unknown) =>
        typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[brand] === true,
    });
  }
}
