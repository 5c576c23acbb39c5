/**
 * Fills a configuration the way Go's json.Unmarshal fills Mender 3.4's config struct, so a
 * file Mender takes, ota takes alike. The shape comes from the zod schema (as JSON Schema),
 * so a key added there gets these rules with no more code:
 *   - a key matches its field case-insensitively (exact spelling first); every occurrence
 *     is applied in turn, so the last one wins; a key no field has is ignored (reported);
 *   - a value of the wrong JSON type fails (CONFIG_INVALID), as Go's UnmarshalTypeError
 *     fails the load;
 *     an int takes only an integer literal that fits int64;
 *   - `null` leaves a field as it was, but empties a list or a map;
 *   - an object is decoded into the value already there (the fallback file's), field by
 *     field; a list replaces the old one, its elements decoded into the old elements.
 */
import { fail } from "../errors.ts";
import { type GoJson, plainJson } from "./go_json.ts";

/** The part of JSON Schema that zod's toJSONSchema writes and the decoder reads. */
export interface Shape {
  type?: string | string[];
  properties?: Record<string, Shape>;
  additionalProperties?: Shape | boolean;
  items?: Shape;
  anyOf?: Shape[];
  oneOf?: Shape[];
  $ref?: string;
  $defs?: Record<string, Shape>;
}

export interface DecodeOptions {
  /** Names the file in messages. */
  source: string;
  /** The root schema, for `$ref`. */
  root: Shape;
  /** Called once for each key no field has (its dotted path). */
  onUnknown?: (path: string) => void;
}

const INT64_MIN = -(2n ** 63n), INT64_MAX = 2n ** 63n - 1n;

/** Go's case folding of a key against an ASCII field name (`K` is also U+212A, `S` U+017F). */
export function foldKey(key: string): string {
  return key.replace(
    /[A-Z\u212a\u017f]/g,
    (c) => c === "\u212a" ? "k" : c === "\u017f" ? "s" : c.toLowerCase(),
  );
}

function resolve(shape: Shape, options: DecodeOptions): Shape {
  const ref = shape.$ref?.match(/^#\/\$defs\/(.+)$/)?.[1];
  return ref ? resolve(options.root.$defs?.[ref] ?? {}, options) : shape;
}

function typesOf(shape: Shape): string[] | undefined {
  if (shape.anyOf || shape.oneOf) return undefined;
  if (shape.type === undefined) return undefined;
  return Array.isArray(shape.type) ? shape.type : [shape.type];
}

const GO_KIND: Record<GoJson["kind"], string> = {
  object: "an object",
  array: "a list",
  string: "a string",
  number: "a number",
  bool: "true or false",
  null: "null",
};
const WANTED: Record<string, string> = {
  object: "an object",
  array: "a list",
  string: "a string",
  integer: "a whole number",
  number: "a number",
  boolean: "true or false",
};

function wrongType(options: DecodeOptions, path: string, node: GoJson, types: string[]): never {
  const what = node.kind === "number" ? `the number ${node.raw}` : GO_KIND[node.kind];
  fail(
    "CONFIG_INVALID",
    `${options.source}: ${path || "the file"} must be ${
      types.map((t) => WANTED[t] ?? t).join(" or ")
    }, not ${what}`,
  );
}

function isStruct(shape: Shape): boolean {
  return shape.properties !== undefined;
}

/** Go's zero value, for a list element given as `null` where there was none before. */
function zeroOf(shape: Shape): unknown {
  const type = typesOf(shape)?.[0];
  if (type === "object") return {};
  if (type === "array") return [];
  if (type === "string") return "";
  if (type === "integer" || type === "number") return 0;
  if (type === "boolean") return false;
  return null;
}

const KEEP = Symbol("keep");

/**
 * The new value of a field that held `previous`, after decoding `node` into it; KEEP
 * leaves the field untouched, undefined removes it.
 */
export function decodeValue(
  previous: unknown,
  node: GoJson,
  shape: Shape,
  path: string,
  options: DecodeOptions,
): unknown {
  shape = resolve(shape, options);
  const types = typesOf(shape);
  if (types === undefined) return plainJson(node); // a type ota leaves open
  if (node.kind === "null") {
    return types.includes("array") || (types.includes("object") && !isStruct(shape))
      ? undefined
      : KEEP;
  }
  if (node.kind === "object" && types.includes("object")) {
    return decodeObject(previous, node, shape, path, options);
  }
  if (node.kind === "array" && types.includes("array")) {
    const old = Array.isArray(previous) ? previous : [];
    return node.items.map((item, i) => {
      const value = decodeValue(old[i], item, shape.items ?? {}, `${path}[${i}]`, options);
      return value === KEEP ? old[i] ?? zeroOf(resolve(shape.items ?? {}, options)) : value;
    });
  }
  if (node.kind === "string" && types.includes("string")) return node.value;
  if (node.kind === "bool" && types.includes("boolean")) return node.value;
  if (node.kind === "number") {
    if (types.includes("number")) return Number(node.raw);
    if (types.includes("integer") && /^-?(0|[1-9]\d*)$/.test(node.raw)) {
      const big = BigInt(node.raw);
      if (big >= INT64_MIN && big <= INT64_MAX) return Number(big);
    }
  }
  return wrongType(options, path, node, types);
}

function decodeObject(
  previous: unknown,
  node: Extract<GoJson, { kind: "object" }>,
  shape: Shape,
  path: string,
  options: DecodeOptions,
): Record<string, unknown> {
  const target: Record<string, unknown> =
    previous && typeof previous === "object" && !Array.isArray(previous)
      ? { ...previous as Record<string, unknown> }
      : {};
  const fields = shape.properties;
  const folded = new Map<string, string>();
  for (const name of Object.keys(fields ?? {}).reverse()) folded.set(foldKey(name), name);
  const extra = typeof shape.additionalProperties === "object"
    ? shape.additionalProperties
    : undefined;
  for (const [key, item] of node.entries) {
    let name: string | undefined = key;
    let field: Shape | undefined;
    if (fields) {
      name = Object.hasOwn(fields, key) ? key : folded.get(foldKey(key));
      field = name === undefined ? undefined : fields[name];
    } else field = extra ?? {}; // a map: keys as they are
    const at = path ? `${path}.${key}` : key;
    if (name === undefined || field === undefined) {
      options.onUnknown?.(at);
      continue;
    }
    const value = decodeValue(fields ? target[name] : undefined, item, field, at, options);
    if (value === undefined) delete target[name];
    else if (value !== KEEP) {
      // a map's key may be "__proto__": a plain own key, never the prototype
      Object.defineProperty(target, name, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return target;
}

/** Decodes one file's top-level object into `previous` (the files read before it). */
export function decodeFile(
  previous: Record<string, unknown>,
  node: GoJson,
  options: DecodeOptions,
): Record<string, unknown> {
  const value = decodeValue(previous, node, options.root, "", options);
  return value === KEEP ? previous : value as Record<string, unknown>;
}

/** The longest wait a timer can take (2^31 - 1 ms); a longer one would fire at once. */
export const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/**
 * Mender 3.4 reads a field left at Go's zero value as not set: `""` is no path and no key,
 * and every `...Seconds` key at 0 (or below, as its module timeout does) takes its default.
 * So these are removed here, after all files are merged (an empty value in the main file
 * still overrides the fallback's), and the schema's defaults apply. Seconds past what a
 * timer can wait are capped.
 */
export function unsetZeroValues(
  config: Record<string, unknown>,
  shape: Shape,
  root: Shape,
  onChange?: (path: string, note: string) => void,
  path = "",
): void {
  const fields = resolve(shape, { source: "", root }).properties ?? {};
  for (const [name, field] of Object.entries(fields)) {
    const value = config[name];
    const at = path ? `${path}.${name}` : name;
    const types = typesOf(resolve(field, { source: "", root })) ?? [];
    if (value === "" && types.includes("string")) {
      delete config[name];
      onChange?.(at, "is empty: taken as not set");
    } else if (typeof value === "number" && name.endsWith("Seconds")) {
      if (value <= 0) {
        delete config[name];
        onChange?.(at, `is ${value}: its default is used`);
      } else if (value > MAX_SECONDS) {
        config[name] = MAX_SECONDS;
        onChange?.(at, `is ${value}: capped at ${MAX_SECONDS}`);
      }
    } else if (value && typeof value === "object" && !Array.isArray(value)) {
      unsetZeroValues(value as Record<string, unknown>, field, root, onChange, at);
    }
  }
}
