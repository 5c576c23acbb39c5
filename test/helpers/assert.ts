/** Assertions for the tests (JSR's @std/assert is out of reach; node:assert does the work). */
import nodeAssert from "node:assert/strict";

export function assert(condition: unknown, message?: string): asserts condition {
  nodeAssert.ok(condition, message);
}

/**
 * Records without a prototype (ota keeps artifact data that way, so `__proto__` is a plain key)
 * compare as the plain objects a test writes: the values are what is checked, not the prototype.
 */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value === null || typeof value !== "object") return value;
  const proto = Object.getPrototypeOf(value);
  if (proto !== null && proto !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    Object.defineProperty(out, key, { value: plain(item), enumerable: true, writable: true });
  }
  return out;
}

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(plain(actual), plain(expected), message);
}

export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.notDeepStrictEqual(plain(actual), plain(expected), message);
}

export function assertMatch(actual: string, pattern: RegExp, message?: string): void {
  nodeAssert.match(actual, pattern, message);
}

export function assertStringIncludes(actual: string, expected: string, message?: string): void {
  if (!actual.includes(expected)) {
    throw new nodeAssert.AssertionError({
      message: message ?? `expected to find ${JSON.stringify(expected)} in:\n${actual}`,
      actual,
      expected,
    });
  }
}

/** Awaits `fn`, expects it to reject, and returns the error for further checks. */
export async function assertRejects(fn: () => Promise<unknown>, message?: string): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  throw new nodeAssert.AssertionError({ message: message ?? "expected a rejection" });
}

/** `list[index]`, failing the test when there is no such element. */
export function at<T>(list: ArrayLike<T>, index: number, what = "list"): T {
  const value = index < 0 ? undefined : list[index];
  if (value === undefined) {
    throw new nodeAssert.AssertionError({
      message: `${what} has no element ${index} (length ${list.length})`,
    });
  }
  return value;
}

/** `value`, failing the test when it is undefined or null. */
export function defined<T>(value: T | undefined | null, what = "value"): T {
  if (value === undefined || value === null) {
    throw new nodeAssert.AssertionError({ message: `${what} is ${value}` });
  }
  return value;
}

type Tuple<T, N extends number, R extends T[] = []> = R["length"] extends N ? R
  : Tuple<T, N, [...R, T]>;

/** The first `n` elements as a tuple, failing the test when there are fewer. */
export function take<T, N extends number>(list: readonly T[], n: N, what = "list"): Tuple<T, N> {
  if (list.length < n) {
    throw new nodeAssert.AssertionError({
      message: `${what} has ${list.length} elements, expected at least ${n}`,
    });
  }
  return list.slice(0, n) as Tuple<T, N>;
}

/** Xors `bytes[index]` with `mask` in place, failing the test when `index` is out of range. */
export function xorAt(bytes: Uint8Array, index: number, mask: number): void {
  bytes[index] = at(bytes, index, "the bytes") ^ mask;
}

/** Calls `fn`, expects it to throw, and returns the error for further checks. */
export function assertThrows(fn: () => unknown, message?: string): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new nodeAssert.AssertionError({ message: message ?? "expected an exception" });
}
