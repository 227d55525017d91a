/**
 * The one place that owns timers. RPC deadlines, connect timeouts and idle checks go
 * through a {@link TimerQueue}. Timers of the same duration expire in the order they
 * were added, so each duration gets a doubly-linked FIFO list driven by one Node timer
 * (the scheme Node uses internally): scheduling and cancelling are O(1), and an object
 * that extends {@link TimerEntry} (a client call) is its own list node, so a deadline
 * costs no allocation at all.
 */

/** Monotonic milliseconds (fractional). */
export const now: () => number = performance.now.bind(performance);

/** A node of a timer list. Extend it to be scheduled with {@link TimerQueue.schedule}. */
export abstract class TimerEntry {
  /** Absolute deadline on the {@link now} clock. */
  deadline = 0;
  /** @internal */
  timerPrev: TimerEntry | undefined = undefined;
  /** @internal */
  timerNext: TimerEntry | undefined = undefined;
  /** @internal the list it is in, undefined when not scheduled. */
  timerList: TimerList | undefined = undefined;

  /** True while scheduled. */
  get scheduled(): boolean {
    return this.timerList !== undefined;
  }

  /** Called once when the deadline passes (not if cancelled before). */
  abstract onTimer(): void;
}

/** A scheduled callback; pass it to {@link TimerQueue.cancel}. */
export type TimerHandle = TimerEntry;

class CallbackEntry extends TimerEntry {
  readonly cb: (arg: unknown) => void;
  readonly arg: unknown;

  constructor(cb: (arg: unknown) => void, arg: unknown) {
    super();
    this.cb = cb;
    this.arg = arg;
  }

  onTimer(): void {
    this.cb(this.arg);
  }
}

/** Timers of one duration, oldest first, with one Node timer armed for the head. */
class TimerList {
  head: TimerEntry | undefined = undefined;
  tail: TimerEntry | undefined = undefined;
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
  insert(e: TimerEntry): void {
    let after = this.tail;
    while (after !== undefined && after.deadline > e.deadline) after = after.timerPrev;
    if (after === undefined) {
      e.timerNext = this.head;
      if (this.head !== undefined) this.head.timerPrev = e;
      this.head = e;
      if (this.tail === undefined) this.tail = e;
    } else {
      e.timerPrev = after;
      e.timerNext = after.timerNext;
      if (after.timerNext !== undefined) after.timerNext.timerPrev = e;
      else this.tail = e;
      after.timerNext = e;
    }
    e.timerList = this;
    if (e.deadline < this.armedAt) this.arm(e.deadline);
    // An armed timer left by the last entry fires no later than `e` needs: keep it.
    else if (this.size === 0) this.timer?.ref();
    this.size++;
  }

  unlink(e: TimerEntry): void {
    if (e.timerPrev !== undefined) e.timerPrev.timerNext = e.timerNext;
    else this.head = e.timerNext;
    if (e.timerNext !== undefined) e.timerNext.timerPrev = e.timerPrev;
    else this.tail = e.timerPrev;
    e.timerPrev = e.timerNext = e.timerList = undefined;
    this.size--;
    // Keep the Node timer (one call after another would arm and clear one each) but let
    // the process exit; it fires once, finds nothing due, and goes.
    if (this.size === 0) this.timer?.unref();
  }

  arm(deadline: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedAt = deadline;
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(deadline - now())));
  }

  fire(): void {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    const t = now() + 0.5;
    for (let e = this.head; e !== undefined && e.deadline <= t; e = this.head) {
      this.unlink(e);
      this.queue.count--;
      try {
        e.onTimer();
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

  /** Run `cb(arg)` once at `deadline` (a {@link now} value); `duration` as in {@link schedule}. */
  add<T>(deadline: number, cb: (arg: T) => void, arg?: T, duration?: number): TimerHandle {
    const e = new CallbackEntry(cb as (arg: unknown) => void, arg);
    this.schedule(e, deadline, duration);
    return e;
  }

  /**
   * Call `e.onTimer()` at `deadline`. `duration` groups timers that expire in insertion
   * order (default: the deadline's distance from now). `e` must not be scheduled already.
   */
  schedule(e: TimerEntry, deadline: number, duration?: number): void {
    const d = Math.max(0, Math.round(duration ?? deadline - now()));
    let list = this.#lists.get(d);
    if (list === undefined) {
      list = new TimerList(this, d);
      this.#lists.set(d, list);
    }
    e.deadline = deadline;
    list.insert(e);
    this.count++;
  }

  /** Cancel `e` if it is still pending. Safe to call any number of times. */
  cancel(e: TimerEntry | undefined): void {
    if (e === undefined) return;
    const list = e.timerList;
    if (list === undefined) return;
    list.unlink(e);
    this.count--;
    if (list.size === 0 && this.#lists.size > 64) this.#lists.delete(list.duration);
  }
}

/** The process-wide timer queue used by channels and servers. */
export const timers: TimerQueue = new TimerQueue();
