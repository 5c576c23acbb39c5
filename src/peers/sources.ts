/**
 * The ordered list of peer URLs a download tries. Peers are shuffled so that devices
 * updating at once spread over every peer holding the file; a peer whose connection fails
 * is retried a few times, then skipped; a peer that served a wrong byte is dropped for good.
 */

export interface PeerSources {
  /** The URL to try now, or undefined when none is left. */
  current(): string | undefined;
  /** The transfer from `url` broke (network, timeout, 5xx): retry later, a few times. */
  failed(url: string, reason: string): void;
  /** `url` served bytes that are not the expected ones: never use it again. */
  corrupt(url: string, reason: string): void;
  /** `url` is busy (503): move on without counting it against the peer. */
  busy(url: string): void;
  /** Peers found since (devices that finished re-serve the file); they are tried next. */
  add(urls: string[]): void;
  /** URLs still usable, in the order they will be tried. */
  remaining(): string[];
  /** What happened to each peer, for the final error message. */
  history(): string[];
}

export interface SourceOptions {
  /** Failures before a peer is skipped. */
  triesPerPeer?: number;
  /** Shuffle with this; `() => 0.5` keeps the given order (tests). */
  random?: () => number;
}

export function peerSources(urls: string[], options: SourceOptions = {}): PeerSources {
  const tries = options.triesPerPeer ?? 5;
  const random = options.random ?? Math.random;
  const order = shuffle([...new Set(urls)], random);
  const failures = new Map<string, number>();
  const dropped = new Set<string>();
  const log: string[] = [];
  const usable = () => order.filter((u) => !dropped.has(u) && (failures.get(u) ?? 0) < tries);
  let index = 0;
  return {
    current() {
      const left = usable();
      return left[index % left.length]; // undefined when none is left
    },
    failed(url, reason) {
      failures.set(url, (failures.get(url) ?? 0) + 1);
      log.push(`${url}: ${reason}`);
      // Move on to the next peer; come back to this one after the others.
      index++;
    },
    corrupt(url, reason) {
      dropped.add(url);
      log.push(`${url}: dropped, ${reason}`);
    },
    busy() {
      index++;
    },
    add(urls) {
      const fresh = shuffle([...new Set(urls)].filter((u) => !order.includes(u)), random);
      if (fresh[0] === undefined) return;
      order.push(...fresh);
      index = usable().indexOf(fresh[0]);
    },
    remaining: usable,
    history: () => [...log],
  };
}

/** Fisher-Yates, in place: every order equally likely when `random` is uniform. */
function shuffle<T>(list: T[], random: () => number): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!]; // 0 <= j <= i < list.length
  }
  return list;
}
