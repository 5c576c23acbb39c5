/**
 * What one HTTP response must keep up: a first byte and then data at least every
 * `idleTimeoutMs`, and on average at least `minBytesPerSecond` over any `rateWindowMs`
 * (curl's --speed-limit and --speed-time). A trickle of one byte a second resets an idle
 * timer forever; the rate rule ends it. A response that breaks a rule is aborted; the body
 * that owns it decides whether to resume.
 */
import { OtaError } from "../errors.ts";

export interface TransferLimits {
  /** Nothing received (headers or body) for this long: abandoned. */
  idleTimeoutMs: number;
  /** Average rate below this over `rateWindowMs`: abandoned. 0 turns the rule off. */
  minBytesPerSecond: number;
  rateWindowMs: number;
}

/** The defaults, also those of mender.conf's ota keys (src/device/config.ts). */
export const DEFAULT_LIMITS: TransferLimits = {
  idleTimeoutMs: 60_000,
  minBytesPerSecond: 1024,
  rateWindowMs: 60_000,
};

/**
 * Watches one request and its response body against the limits. Time counts only while
 * ota waits for the network (the request, then each read): a reader that is slow to ask
 * for the next chunk (a slow disk) holds the transfer back and is never blamed on it.
 */
export class TransferWatch {
  readonly #controller = new AbortController();
  readonly #limits: TransferLimits;
  readonly #timer: ReturnType<typeof setInterval>;
  /** Byte totals by waiting time, oldest first: the rate over the window is read off them. */
  readonly #samples: { at: number; total: number }[] = [{ at: 0, total: 0 }];
  /** Waiting time before the current wait, and when the current wait began. */
  #waited = 0;
  #waitingSince: number | undefined = Date.now();
  /** Waiting time when something (headers, bytes) last arrived. */
  #lastArrival = 0;
  #total = 0;
  #tripped?: OtaError;
  #rejectRead?: (error: OtaError) => void;

  constructor(limits: TransferLimits) {
    this.#limits = limits;
    const shortest = Math.min(limits.idleTimeoutMs, limits.rateWindowMs || Infinity);
    this.#timer = setInterval(() => this.#check(), Math.max(20, Math.min(1000, shortest / 8)));
  }

  /** Aborts the request when a rule is broken (pass it to fetch). */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The broken rule, once one was. */
  get tripped(): OtaError | undefined {
    return this.#tripped;
  }

  #waiting(): number {
    return this.#waited + (this.#waitingSince === undefined ? 0 : Date.now() - this.#waitingSince);
  }

  #arrived(bytes: number): void {
    this.#waited = this.#waiting();
    this.#waitingSince = undefined;
    this.#lastArrival = this.#waited;
    this.#total += bytes;
  }

  /** The response's headers are in: the wait for the request ends. */
  responded(): void {
    this.#arrived(0);
  }

  /** The next chunk of `reader`; rejects with the broken rule's error. */
  read(
    reader: ReadableStreamDefaultReader<Uint8Array>,
  ): Promise<ReadableStreamReadResult<Uint8Array>> {
    if (this.#tripped) return Promise.reject(this.#tripped);
    this.#waitingSince = Date.now();
    return new Promise((resolve, reject) => {
      this.#rejectRead = reject;
      reader.read().then((result) => {
        this.#arrived(result.done ? 0 : result.value.byteLength);
        resolve(result);
      }, (error) => reject(this.#tripped ?? error)).finally(() => this.#rejectRead = undefined);
    });
  }

  /** The response was read (or given up): no more checks. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** Stops the checks and aborts the request (the body was cancelled or is done with it). */
  abort(): void {
    this.stop();
    this.#controller.abort();
  }

  #check(): void {
    if (this.#waitingSince === undefined) return;
    const now = this.#waiting();
    const { idleTimeoutMs, minBytesPerSecond, rateWindowMs } = this.#limits;
    if (now - this.#lastArrival >= idleTimeoutMs) {
      return this.#trip(new OtaError("SOURCE_STALLED", `no data for ${idleTimeoutMs / 1000} s`));
    }
    const samples = this.#samples;
    samples.push({ at: now, total: this.#total });
    if (minBytesPerSecond <= 0 || now < rateWindowMs) return;
    // Keep one sample at or before the window's start: the average spans the whole window.
    while (samples.length > 2 && samples[1]!.at <= now - rateWindowMs) samples.shift();
    const base = samples[0]!;
    const rate = (this.#total - base.total) / ((now - base.at) / 1000);
    if (rate < minBytesPerSecond) {
      this.#trip(
        new OtaError(
          "SOURCE_TOO_SLOW",
          `${Math.floor(rate)} bytes/s averaged over ${
            rateWindowMs / 1000
          } s, below the minimum of ${minBytesPerSecond}`,
        ),
      );
    }
  }

  #trip(error: OtaError): void {
    this.#tripped = error;
    this.stop();
    this.#rejectRead?.(error); // before the abort, so the read reports the rule, not the abort
    this.#controller.abort();
  }
}
