/**
 * What long work (a download, an install) reports as it goes. The core calls it; the
 * command line decides how it shows (src/cli/progress.ts), a daemon or a test may pass
 * another.
 */
export interface Progress {
  /** Starts a step; `total` is 0 when unknown. */
  step(name: string, total?: number): void;
  update(bytes: number): void;
  /** Ends the current step. */
  done(): void;
}
