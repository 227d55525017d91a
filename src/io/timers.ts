/**
 * The one place that owns timers. RPC deadlines, connect timeouts and idle checks go
 * through a {@link TimerQueue}: a min-heap of deadlines behind a single Node timer, so
 * a call costs a heap push instead of a `setTimeout` object, and cancelling is O(log n).
 */

/** Monotonic milliseconds (fractional). */
export const now: () => number = performance.now.bind(performance);

/** A scheduled callback. Keep it to cancel; `fired`/`cancelled` say what happened. */
export interface TimerHandle {
  /** Absolute deadline on the {@link now} clock. */
  readonly deadline: number;
  /** Position in the heap, -1 once it fired or was cancelled. */
  index: number;
}

interface Entry extends TimerHandle {
  deadline: number;
  cb: (arg: unknown) => void;
  arg: unknown;
}

/** A min-heap of deadlines driving one Node timer. */
export class TimerQueue {
  #heap: Entry[] = [];
  #timer: NodeJS.Timeout | undefined;
  #armedAt = Number.POSITIVE_INFINITY;
  readonly #onTimer = () => this.#fire();

  /** Number of pending timers. */
  get size(): number {
    return this.#heap.length;
  }

  /** Run `cb(arg)` once at `deadline` (a {@link now} value). Passing `arg` avoids a closure per timer. */
  add<T>(deadline: number, cb: (arg: T) => void, arg?: T): TimerHandle {
    const e: Entry = { deadline, cb: cb as (arg: unknown) => void, arg, index: this.#heap.length };
    this.#heap.push(e);
    this.#up(e.index);
    if (deadline < this.#armedAt) this.#arm(deadline);
    return e;
  }

  /** Run `cb(arg)` once after `ms` milliseconds. */
  after<T>(ms: number, cb: (arg: T) => void, arg?: T): TimerHandle {
    return this.add(now() + ms, cb, arg);
  }

  /** Cancel `h` if it is still pending. Safe to call any number of times. */
  cancel(h: TimerHandle | undefined): void {
    if (h === undefined) return;
    const i = h.index;
    if (i < 0) return;
    const heap = this.#heap;
    const last = heap.pop() as Entry;
    h.index = -1;
    if (last !== h) {
      heap[i] = last;
      last.index = i;
      this.#down(i);
      this.#up(last.index);
    }
    if (heap.length === 0) this.#disarm();
  }

  #arm(deadline: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedAt = deadline;
    this.#timer = setTimeout(this.#onTimer, Math.max(0, Math.ceil(deadline - now())));
  }

  #disarm(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#armedAt = Number.POSITIVE_INFINITY;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedAt = Number.POSITIVE_INFINITY;
    const t = now();
    const heap = this.#heap;
    // Pop everything due; callbacks may add or cancel timers.
    while (heap.length > 0 && (heap[0] as Entry).deadline <= t + 0.5) {
      const e = heap[0] as Entry;
      this.cancel(e);
      try {
        e.cb(e.arg);
      } catch (err) {
        // A timer callback must never take the process down.
        process.emitWarning(`brpc-ts timer callback threw: ${String(err)}`);
      }
    }
    if (heap.length > 0 && this.#timer === undefined) this.#arm((heap[0] as Entry).deadline);
  }

  #up(i: number): void {
    const heap = this.#heap;
    const e = heap[i] as Entry;
    while (i > 0) {
      const pi = (i - 1) >> 1;
      const p = heap[pi] as Entry;
      if (p.deadline <= e.deadline) break;
      heap[i] = p;
      p.index = i;
      i = pi;
    }
    heap[i] = e;
    e.index = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const e = heap[i] as Entry;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && (heap[r] as Entry).deadline < (heap[l] as Entry).deadline) c = r;
      const ce = heap[c] as Entry;
      if (ce.deadline >= e.deadline) break;
      heap[i] = ce;
      ce.index = i;
      i = c;
    }
    heap[i] = e;
    e.index = i;
  }
}

/** The process-wide timer queue used by channels and servers. */
export const timers: TimerQueue = new TimerQueue();
