/**
 * Every CSV pcam reads or writes goes through csv-parse and csv-stringify, so ids holding commas,
 * quotes or line breaks survive a round trip (RFC 4180 quoting).
 * @module
 */
import { parse } from 'csv-parse/sync'
import { stringify } from 'csv-stringify/sync'
import { DataError } from '../errors.js'

export interface CsvRow {
  /** Line of the file where the row ends (1-based; the header is line 1), for messages. */
  line: number
  fields: string[]
}

/**
 * Parses CSV text into its header and rows, skipping empty lines. Rows keep whatever number of
 * fields they have, so callers can report a malformed row by its line instead of failing whole.
 */
export function readCsv(text: string, origin: string): { header: string[]; rows: CsvRow[] } {
  let records: { record: string[]; info: { lines: number } }[]
  try {
    records = parse(text, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as typeof records
  } catch (error) {
    throw new DataError(`${origin} is not valid CSV: ${(error as Error).message}`, {
      cause: error,
    })
  }
  const [first, ...rest] = records
  return {
    header: first?.record ?? [],
    rows: rest.map(({ record, info }) => ({ line: info.lines, fields: record })),
  }
}

/** Writes a header and rows as CSV text (quoting fields only where needed), ending with a newline. */
export function writeCsv(header: string[], rows: (string | number)[][]): string {
  return stringify([header, ...rows])
}

/**
 * Tab-separated lines without a header (the problem lists: location, reason), quoted as CSV
 * where a field holds a tab, a quote or a line break, so every entry stays on its own record.
 */
export function writeTsv(rows: string[][]): string {
  return stringify(rows, { delimiter: '\t' })
}
