/**
 * A small checker for the JSON documents inside artifacts: each shape both checks a parsed
 * value and gives its type, as a schema library would, in a few hundred bytes of code. The
 * reader runs on every `artifact read` and install, and a full schema library costs more to
 * load (about 6 MiB of resident memory in the binary) than the reader itself.
 */
import { dataRecord } from "../records.ts";

/** Where a value failed and why: `payloads.0.type`, "expected string, received number". */
export class ShapeIssue extends Error {
  constructor(readonly path: (string | number)[], message: string) {
    super(message);
  }
}

export interface Shape<T> {
  /** The checked value (a fresh object for objects and records); throws ShapeIssue. */
  check(value: unknown, path: (string | number)[]): T;
  readonly optional?: boolean;
}

/** A key of an object that may be missing. */
export interface OptionalShape<T> extends Shape<T | undefined> {
  readonly optional: true;
}

export type Infer<S> = S extends Shape<infer T> ? T : never;

function kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

const expected = (what: string, value: unknown, path: (string | number)[]) =>
  new ShapeIssue(path, `expected ${what}, received ${kind(value)}`);

export function string(length: { min?: number; max?: number } = {}): Shape<string> {
  const { min = 0, max = Infinity } = length;
  return {
    check(value, path) {
      if (typeof value !== "string") throw expected("string", value, path);
      if (value.length < min) {
        throw new ShapeIssue(path, `too short: expected at least ${min} character(s)`);
      }
      if (value.length > max) {
        throw new ShapeIssue(path, `too long: expected at most ${max} characters`);
      }
      return value;
    },
  };
}

export function integer(): Shape<number> {
  return {
    check(value, path) {
      if (typeof value !== "number") throw expected("number", value, path);
      if (!Number.isSafeInteger(value)) throw new ShapeIssue(path, "expected an integer");
      return value;
    },
  };
}

export function literal<const T extends string | number>(literal: T): Shape<T> {
  return {
    check(value, path) {
      if (value !== literal) throw new ShapeIssue(path, `expected ${JSON.stringify(literal)}`);
      return literal;
    },
  };
}

export function unknown(): Shape<unknown> {
  return { check: (value) => value };
}

export function array<T>(item: Shape<T>, length: { min?: number } = {}): Shape<T[]> {
  return {
    check(value, path) {
      if (!Array.isArray(value)) throw expected("array", value, path);
      if (value.length < (length.min ?? 0)) {
        throw new ShapeIssue(path, `too short: expected at least ${length.min} item(s)`);
      }
      return value.map((v, i) => item.check(v, [...path, i]));
    },
  };
}

export function nullable<T>(inner: Shape<T>): Shape<T | null> {
  return { check: (value, path) => (value === null ? null : inner.check(value, path)) };
}

/** A key that may be missing (a JSON `null` is not missing). */
export function optional<T>(inner: Shape<T>): OptionalShape<T> {
  return {
    optional: true,
    check: (value, path) => (value === undefined ? undefined : inner.check(value, path)),
  };
}

/** Either shape: the first that accepts the value. */
export function either<A, B>(first: Shape<A>, second: Shape<B>): Shape<A | B> {
  return {
    check(value, path) {
      try {
        return first.check(value, path);
      } catch (error) {
        if (!(error instanceof ShapeIssue)) throw error;
        try {
          return second.check(value, path);
        } catch {
          throw new ShapeIssue(path, "does not match any accepted type");
        }
      }
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

type Fields = Record<string, Shape<unknown>>;
type OptionalKeys<F extends Fields> = {
  [K in keyof F]: F[K] extends OptionalShape<unknown> ? K : never;
}[keyof F];
type Flat<T> = { [K in keyof T]: T[K] } & unknown;
export type ObjectOf<F extends Fields> = Flat<
  & { [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> }
  & { [K in OptionalKeys<F>]?: Exclude<Infer<F[K]>, undefined> }
>;

/** An object with exactly these keys (missing optional ones stay missing); others refused. */
export function strictObject<F extends Fields>(fields: F): Shape<ObjectOf<F>> {
  const known = Object.keys(fields);
  return {
    check(value, path) {
      if (!isObject(value)) throw expected("object", value, path);
      for (const key of Object.keys(value)) {
        if (!Object.hasOwn(fields, key)) {
          throw new ShapeIssue(path, `unrecognized key ${JSON.stringify(key)}`);
        }
      }
      const out: Record<string, unknown> = {};
      for (const key of known) {
        const present = Object.hasOwn(value, key);
        if (!present && fields[key]!.optional) continue;
        out[key] = fields[key]!.check(present ? value[key] : undefined, [...path, key]);
      }
      return out as ObjectOf<F>;
    },
  };
}

/**
 * A JSON object as a record without prototype, every key kept and checked (`__proto__`
 * included: a plain object would hide it or answer for keys it does not hold).
 */
export function record<V>(key: Shape<string>, item: Shape<V>): Shape<Record<string, V>> {
  return {
    check(value, path) {
      if (!isObject(value)) throw new ShapeIssue(path, "must be a JSON object");
      return dataRecord(
        Object.entries(value).map((
          [k, v],
        ) => [key.check(k, [...path, k]), item.check(v, [...path, k])]),
      );
    },
  };
}
