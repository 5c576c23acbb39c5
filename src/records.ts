/**
 * String-keyed records for data that comes from artifacts and the device store. They have no
 * prototype, so keys such as `__proto__`, `constructor` or `toString` are keys like any other:
 * never dropped on assignment, never found on an object that does not hold them.
 */

export function dataRecord<T>(entries: Iterable<readonly [string, T]> = []): Record<string, T> {
  const record = Object.create(null) as Record<string, T>;
  for (const [key, value] of entries) record[key] = value;
  return record;
}

/** The record's own value under `key`; undefined when it has none (nothing inherited). */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Records merged left to right, later keys winning, into a new record. */
export function mergeRecords<T>(
  ...records: (Readonly<Record<string, T>> | undefined)[]
): Record<string, T> {
  return dataRecord(records.flatMap((record) => (record ? Object.entries(record) : [])));
}
