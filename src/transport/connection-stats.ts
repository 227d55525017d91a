/**
 * Per-second and per-minute traffic of one connection (brpc's `ExtendedSocketStat`,
 * `Socket::SharedPart::UpdateStatsEverySecond`): what `/connections` shows as In/Out bytes
 * and messages per second and per minute.
 */

/** The running totals a {@link ConnectionRates} samples (a `Connection`). */
export interface TrafficTotals {
  /** Bytes received so far. */
  readonly bytesIn: number;
  /** Bytes sent so far. */
  readonly bytesOut: number;
  /** Messages received so far. */
  readonly messagesIn: number;
  /** Messages sent so far. */
  readonly messagesOut: number;
}

const SLOTS = 60;

/**
 * Rates of one connection, updated by {@link update} once a second (a running server does
 * it for its connections while its metrics are on). As in brpc the values are not
 * normalised: "per second" is the difference between the last two updates, "per minute"
 * the sum of the last 60 of them.
 */
export class ConnectionRates {
  /** Bytes received in the last second. */
  inBytesSecond = 0;
  /** Bytes sent in the last second. */
  outBytesSecond = 0;
  /** Messages received in the last second. */
  inMessagesSecond = 0;
  /** Messages sent in the last second. */
  outMessagesSecond = 0;
  /** Bytes received in the last minute. */
  inBytesMinute = 0;
  /** Bytes sent in the last minute. */
  outBytesMinute = 0;
  /** Messages received in the last minute. */
  inMessagesMinute = 0;
  /** Messages sent in the last minute. */
  outMessagesMinute = 0;
  /** The totals at the last update (brpc starts from zero: the first second covers the connection's start). */
  readonly #last: [number, number, number, number] = [0, 0, 0, 0];
  /** The last 60 per-second values, 4 per second; allocated when the first traffic is seen. */
  #ring: Float64Array | undefined = undefined;
  #slot = 0;

  /** Take this second's sample of `totals`. */
  update(totals: TrafficTotals): void {
    const last = this.#last;
    const bi = totals.bytesIn - last[0];
    const bo = totals.bytesOut - last[1];
    const mi = totals.messagesIn - last[2];
    const mo = totals.messagesOut - last[3];
    last[0] = totals.bytesIn;
    last[1] = totals.bytesOut;
    last[2] = totals.messagesIn;
    last[3] = totals.messagesOut;
    this.inBytesSecond = bi;
    this.outBytesSecond = bo;
    this.inMessagesSecond = mi;
    this.outMessagesSecond = mo;
    if (this.#ring === undefined) {
      if (bi === 0 && bo === 0 && mi === 0 && mo === 0) return;
      this.#ring = new Float64Array(SLOTS * 4);
    }
    const ring = this.#ring;
    const at = this.#slot * 4;
    this.#slot = (this.#slot + 1) % SLOTS;
    this.inBytesMinute += bi - (ring[at] as number);
    this.outBytesMinute += bo - (ring[at + 1] as number);
    this.inMessagesMinute += mi - (ring[at + 2] as number);
    this.outMessagesMinute += mo - (ring[at + 3] as number);
    ring[at] = bi;
    ring[at + 1] = bo;
    ring[at + 2] = mi;
    ring[at + 3] = mo;
  }
}
