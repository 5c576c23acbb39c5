/**
 * Zod schemas for documents that are not artifact JSON (the device store, a peer's listing)
 * but hold records and artifact headers: the zod form of a record without prototype, and an
 * artifact shape (artifact/shape.ts) used inside a zod schema.
 */
import { z } from "zod";
import { type Shape, ShapeIssue } from "./artifact/shape.ts";
import { dataRecord } from "./records.ts";

/**
 * A JSON object as a record without prototype, every key kept: zod's own record skips
 * `__proto__`, and a plain object would hide it or answer for keys it does not hold.
 */
export function dataRecordSchema<V extends z.ZodType>(key: z.ZodType<string>, value: V) {
  return z.preprocess(
    (input) =>
      input !== null && typeof input === "object" && !Array.isArray(input)
        ? new Map(Object.entries(input))
        : input,
    z.map(key, value, { error: "must be a JSON object" }),
  ).transform((map) => dataRecord(map));
}

/** An artifact shape checked inside a zod schema, its issue reported as zod's. */
export function zodOf<T>(shape: Shape<T>) {
  return z.unknown().transform((value, ctx): T => {
    try {
      return shape.check(value, []);
    } catch (error) {
      if (!(error instanceof ShapeIssue)) throw error;
      ctx.issues.push({ code: "custom", message: error.message, path: error.path, input: value });
      return z.NEVER;
    }
  });
}
