/**
 * An artifact over HTTP that can be read in two ways. Its stream starts with the head,
 * fetched by byte range: version, manifest, signature and header, found member by member
 * from their tar headers, plus the payload member's header and its first bytes. Past the
 * head the stream waits: the rest is requested (one resumable body, as any download) only
 * when the payload is read as a whole, which `release()` allows. Or the rootfs-image handler
 * fetches just the pieces it lacks through `open()` and the rest is never requested.
 *
 * A server that answers a range with the whole file (it ignores Range), a member the walk
 * does not know, or an augmented artifact (its augment is not signed) leave no layout: the
 * artifact is then streamed whole, without waiting.
 */
import { createHash } from "node:crypto";
import type { Validators } from "../http/answer.ts";
import type { ByteRange } from "../http/ranges.ts";
import { type BodyOptions, openBody } from "../http/resumable.ts";
import type { Progress } from "../progress.ts";
import type { ByteStream } from "../streams.ts";
import { paddedSize, readTarHeader, TAR_BLOCK } from "./tar_header.ts";

/** Where the payload member lies in the artifact. */
export interface PayloadLayout {
  /** `data/0000.tar`, `data/0000.tar.gz`, ... */
  name: string;
  /** Offset of its body in the artifact, and its size. */
  offset: number;
  size: number;
  /** The artifact's size. */
  fileSize: number;
}

export interface RangedBody {
  stream: ByteStream;
  /** The origins that delivered its bytes so far. */
  contributors(): string[];
}

/** What the rootfs-image handler gets to fetch pieces of the artifact it is installing. */
export interface ArtifactRanges {
  readonly name: string;
  layout(): PayloadLayout | undefined;
  /** Bytes `[start, end)` of the same artifact (held to the head's validators). */
  open(range: ByteRange): Promise<RangedBody>;
  /** Bytes `[start, end)` when the head holds them (no request). */
  cached(range: ByteRange): Uint8Array | undefined;
  /** Drops an origin whose bytes did not match; true when another one can be asked. */
  blame(url: string, reason: string): boolean;
  /** Bytes received so far, the head included. */
  fetched(): number;
  /** Progress of the download step, reported as bytes fetched against the payload's size. */
  watch(progress: Progress): void;
  /** An adaptive install starts: progress counts fetched bytes from here. */
  begin(): void;
  /** The payload is read as a whole: the rest of the artifact is requested when read. */
  release(): void;
  /** The payload was assembled from pieces: the rest of the artifact is never read. */
  finish(): void;
  readonly finished: boolean;
}

/** An HTTP body's options (one resumer: src/http/resumable.ts), with what ranges add. */
export interface RangedOptions extends BodyOptions {
  /** For messages: the URL, or the peers. */
  name: string;
  /** An origin delivered bytes that do not match: drop it; true when another one is left. */
  blame?: (url: string, reason: string) => boolean;
  /** The whole artifact streamed: its SHA-256 and who delivered it (may throw). */
  onWhole?: (sha256: string, contributors: string[]) => void;
}

export interface RangedSource {
  stream: ByteStream;
  size?: number;
  name: string;
  ranges: ArtifactRanges;
}

/**
 * The first request: version, manifest and signature fit, and it lies inside any artifact
 * (four members and the end of the archive take at least 5 KiB): a range past the end would
 * be answered with a shorter one, which a resumable body refuses.
 */
const FIRST = 4096;
/** A head larger than this is not fetched apart: the artifact is streamed whole. */
const MAX_HEAD = 48 * 1024 * 1024;
/** Payload bytes fetched with the head: its lead (the inner tar header) fits. */
const LEAD = 1024;
const HEAD_MEMBER = /^(version|manifest|manifest\.sig|header\.tar(\.gz|\.xz|\.zst)?)$/;
/** Chunks of the head handed to the reader. */
const CHUNK = 256 * 1024;

class RangedArtifact implements ArtifactRanges {
  readonly name: string;
  #validators: Validators;
  #head: Uint8Array = new Uint8Array(0);
  /** Where #head starts in the artifact: past the header once that was read. */
  #headStart = 0;
  #layout?: PayloadLayout;
  /** A ranged request got a 200: the server ignores Range. */
  #ignoresRange = false;
  #fetched = 0;
  #served = 0;
  #released = false;
  #closed = false;
  #finished = false;
  #openGate!: () => void;
  readonly #gate = new Promise<void>((resolve) => this.#openGate = resolve);
  #rest?: { reader: ReadableStreamDefaultReader<Uint8Array>; contributors: () => string[] };
  readonly #whole = createHash("sha256");
  readonly #contributors = new Set<string>();
  #progress?: Progress;
  #counting = false;

  constructor(readonly options: RangedOptions) {
    this.name = options.name;
    this.#validators = { ...options.validators };
  }

  /** fetch, noting a ranged request answered with the whole file. */
  #fetch: typeof fetch = async (input, init) => {
    const response = await this.options.fetch(input, init);
    const headers = init?.headers as Record<string, string> | undefined;
    if (headers?.range !== undefined && response.status === 200) this.#ignoresRange = true;
    return response;
  };

  #body(range: { start: number; end?: number }) {
    return openBody({
      fetch: this.#fetch,
      origins: this.options.origins,
      headers: this.options.headers,
      validators: this.#validators,
      limits: this.options.limits,
      backoff: this.options.backoff,
      onEvent: this.options.onEvent,
    }, range);
  }

  #count(n: number): void {
    this.#fetched += n;
    if (this.#counting) this.#progress?.update(this.#fetched);
  }

  /** Appends bytes `[head length, end)` to the head. */
  async #extend(end: number): Promise<void> {
    const size = this.#validators.size;
    const stop = size === undefined ? end : Math.min(end, size);
    if (stop <= this.#head.byteLength) return;
    const body = await this.#body({ start: this.#head.byteLength, end: stop });
    this.#validators = body.validators;
    // one copy of the bytes as they come (the header may be megabytes: an index)
    const head = new Uint8Array(stop);
    head.set(this.#head);
    let at = this.#head.byteLength;
    for await (const chunk of body.stream) {
      const n = Math.min(chunk.byteLength, stop - at); // the body ends at stop
      head.set(chunk.subarray(0, n), at);
      at += n;
      this.#count(chunk.byteLength);
    }
    for (const url of body.contributors()) this.#contributors.add(url);
    this.#head = head.subarray(0, at);
  }

  /** Fetches the head and finds the payload member; resolves once the first answer is in. */
  async readHead(): Promise<void> {
    await this.#extend(FIRST);
    let at = 0;
    while (!this.#ignoresRange && at <= MAX_HEAD) {
      await this.#extend(Math.max(at + TAR_BLOCK, this.#head.byteLength));
      const header = readTarHeader(this.#head.subarray(at, at + TAR_BLOCK));
      const size = this.#validators.size;
      if (!header || size === undefined) return;
      if (header.name.startsWith("data/")) {
        await this.#extend(at + TAR_BLOCK + LEAD);
        if (this.#ignoresRange) return;
        this.#layout = {
          name: header.name,
          offset: at + TAR_BLOCK,
          size: header.size,
          fileSize: size,
        };
        return;
      }
      if (!HEAD_MEMBER.test(header.name)) return; // an augment, or what the walk does not know
      at += TAR_BLOCK + paddedSize(header.size);
      if (at + TAR_BLOCK > this.#head.byteLength) {
        // the next header and, when it is the payload's, its lead: one request
        await this.#extend(at + TAR_BLOCK + LEAD);
      }
    }
  }

  layout(): PayloadLayout | undefined {
    return this.#ignoresRange ? undefined : this.#layout;
  }

  async open(range: ByteRange): Promise<RangedBody> {
    const body = await this.#body(range);
    const reader = body.stream.getReader();
    return {
      stream: new ReadableStream<Uint8Array>({
        pull: async (controller) => {
          const next = await reader.read();
          if (next.done) return controller.close();
          this.#count(next.value.byteLength);
          controller.enqueue(next.value);
        },
        cancel: (reason) => reader.cancel(reason),
      }, { highWaterMark: 0 }),
      contributors: body.contributors,
    };
  }

  cached(range: ByteRange): Uint8Array | undefined {
    const start = range.start - this.#headStart;
    return start >= 0 && range.end - this.#headStart <= this.#head.byteLength
      ? this.#head.slice(start, range.end - this.#headStart)
      : undefined;
  }

  blame(url: string, reason: string): boolean {
    return this.options.blame?.(url, reason) ?? false;
  }

  fetched(): number {
    return this.#fetched;
  }

  /** The artifact's size, once an answer told it. */
  get size(): number | undefined {
    return this.#validators.size;
  }

  get finished(): boolean {
    return this.#finished;
  }

  watch(progress: Progress): void {
    this.#progress = progress;
  }

  begin(): void {
    this.#counting = true;
    this.#progress?.step("download", this.#layout?.size ?? 0);
    this.#progress?.update(this.#fetched);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#counting) {
      this.#counting = false;
      this.#progress?.step("download", this.#validators.size ?? 0);
      this.#progress?.update(this.#served);
    }
    this.#openGate();
  }

  finish(): void {
    this.#finished = true;
  }

  /**
   * The head was read: only the payload's first bytes are kept (its lead is taken from
   * them), not the header, which holds the index (megabytes for a large image).
   */
  #trimHead(): void {
    const keep = this.#layout?.offset ?? this.#served;
    this.#head = this.#head.slice(keep - this.#headStart);
    this.#headStart = keep;
  }

  stream(): ByteStream {
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (this.#served < this.#headStart + this.#head.byteLength) {
          const at = this.#served - this.#headStart;
          const chunk = this.#head.subarray(at, at + CHUNK);
          this.#served += chunk.byteLength;
          this.#whole.update(chunk);
          controller.enqueue(chunk);
          if (this.#served === this.#headStart + this.#head.byteLength) this.#trimHead();
          return;
        }
        // Past the head: wait until the payload is to be read whole (or never is).
        if (this.layout() && !this.#released) await this.#gate;
        if (this.#closed) return;
        const chunk = await this.#next();
        if (chunk) controller.enqueue(chunk);
        else {
          for (const url of this.#rest?.contributors() ?? []) this.#contributors.add(url);
          this.options.onWhole?.(this.#whole.digest("hex"), [...this.#contributors]);
          controller.close();
        }
      },
      cancel: async (reason) => {
        this.#closed = true;
        this.#openGate();
        await this.#rest?.reader.cancel(reason).catch(() => {});
      },
    }, { highWaterMark: 0 });
  }

  /** The next chunk after the head, from one resumable body to the end of the artifact. */
  async #next(): Promise<Uint8Array | undefined> {
    if (!this.#rest) {
      const size = this.#validators.size;
      if (size !== undefined && this.#served >= size) return undefined;
      const body = await this.#body({ start: this.#served });
      this.#rest = { reader: body.stream.getReader(), contributors: body.contributors };
    }
    const next = await this.#rest.reader.read();
    if (next.done) return undefined;
    this.#served += next.value.byteLength;
    this.#count(next.value.byteLength);
    this.#whole.update(next.value);
    return next.value;
  }
}

/** The payload's files; reading them releases the rest of the artifact (a full download). */
export async function* releasedOnRead<T>(
  files: AsyncIterable<T>,
  ranges: ArtifactRanges,
): AsyncGenerator<T> {
  ranges.release();
  yield* files;
}

/** Opens the artifact and reads its head; a 404 or a refused connection fails here. */
export async function openRanged(options: RangedOptions): Promise<RangedSource> {
  const artifact = new RangedArtifact(options);
  await artifact.readHead();
  return {
    stream: artifact.stream(),
    size: artifact.size,
    name: options.name,
    ranges: artifact,
  };
}
