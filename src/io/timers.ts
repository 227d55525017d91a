/**
 * The one place that owns timers. RPC deadlines, connect timeouts and idle checks go
 * through a {@link TimerQueue}. Timers of the same duration expire in the order they
 * were added, so each duration gets a doubly-linked FIFO list driven by one Node timer
 * (the scheme Node uses internally): adding and cancelling are O(1) and allocate one
 * small entry, instead of a `Timeout` object per call.
 */

/** Monotonic milliseconds (fractional). */
export const now: () => number = performance.now.bind(performance);

/** A scheduled callback; pass it to {@link TimerQueue.cancel}. */
export interface TimerHandle {
  /** Absolute deadline on the {@link now} clock. */
  readonly deadline: number;
}

class Entry implements TimerHandle {
  deadline: number;
  cb: (arg: unknown) => void;
  arg: unknown;
  prev: Entry | undefined = undefined;
  next: Entry | undefined = undefined;
  list: TimerList | undefined;

  constructor(deadline: number, cb: (arg: unknown) => void, arg: unknown, list: TimerList) {
    this.deadline = deadline;
    this.cb = cb;
    this.arg = arg;
    this.list = list;
  }
}

/** Timers of one duration, oldest first, with one Node timer armed for the head. */
class TimerList {
  head: Entry | undefined = undefined;
  tail: Entry | undefined = undefined;
  size = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  armedAt = Number.POSITIVE_INFINITY;
  readonly duration: number;
  readonly queue: TimerQueue;
  readonly onTimer = () => this.fire();

  constructor(queue: TimerQueue, duration: number) {
    this.queue = queue;
    this.duration = duration;
  }

  /** Insert keeping deadline order (appends in the common case). */
  insert(e: Entry): void {
    let after = this.tail;
    while (after !== undefined && after.deadline > e.deadline) after = after.prev;
    if (after === undefined) {
      e.next = this.head;
      if (this.head !== undefined) this.head.prev = e;
      this.head = e;
      if (this.tail === undefined) this.tail = e;
    } else {
      e.prev = after;
      e.next = after.next;
      if (after.next !== undefined) after.next.prev = e;
      else this.tail = e;
      after.next = e;
    }
    this.size++;
    if (e.deadline < this.armedAt) this.arm(e.deadline);
  }

  unlink(e: Entry): void {
    if (e.prev !== undefined) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next !== undefined) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = e.list = undefined;
    this.size--;
    if (this.size === 0) this.disarm();
  }

  arm(deadline: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedAt = deadline;
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(deadline - now())));
  }

  disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
  }

  fire(): void {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    const t = now() + 0.5;
    for (let e = this.head; e !== undefined && e.deadline <= t; e = this.head) {
      this.unlink(e);
      this.queue.count--;
      try {
        e.cb(e.arg);
      } catch (err) {
        // A timer callback must never take the process down.
        process.emitWarning(`brpc-ts timer callback threw: ${String(err)}`);
      }
    }
    if (this.head !== undefined && this.timer === undefined) this.arm(this.head.deadline);
  }
}

/** Timers grouped by duration. */
export class TimerQueue {
  readonly #lists = new Map<number, TimerList>();
  /** @internal */
  count = 0;

  /** Number of pending timers. */
  get size(): number {
    return this.count;
  }

  /** Run `cb(arg)` once after `ms` milliseconds. Passing `arg` avoids a closure per timer. */
  after<T>(ms: number, cb: (arg: T) => void, arg?: T): TimerHandle {
    return this.add(now() + ms, cb, arg, ms);
  }

  /**
   * Run `cb(arg)` once at `deadline` (a {@link now} value). `duration` groups timers
   * that expire in insertion order; by default the deadline's distance from now.
   */
  add<T>(deadline: number, cb: (arg: T) => void, arg?: T, duration?: number): TimerHandle {
    const d = Math.max(0, Math.round(duration ?? deadline - now()));
    let list = this.#lists.get(d);
    if (list === undefined) {
      list = new TimerList(this, d);
      this.#lists.set(d, list);
    }
    const e = new Entry(deadline, cb as (arg: unknown) => void, arg, list);
    list.insert(e);
    this.count++;
    return e;
  }

  /** Cancel `h` if it is still pending. Safe to call any number of times. */
  cancel(h: TimerHandle | undefined): void {
    if (h === undefined) return;
    const e = h as Entry;
    const list = e.list;
    if (list === undefined) return;
    list.unlink(e);
    this.count--;
    if (list.size === 0 && this.#lists.size > 64) this.#lists.delete(list.duration);
  }
}

/** The process-wide timer queue used by channels and servers. */
export const timers: TimerQueue = new TimerQueue();
