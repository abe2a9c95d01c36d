/**
 * A run's metrics.jsonl without its timings, for comparing two runs of the same recipe.
 * @module
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export function untimedRecords(run: string): Record<string, unknown>[] {
  return readFileSync(join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const record = JSON.parse(line) as Record<string, unknown>
      delete record.seconds
      delete record.imagesPerSec
      return record
    })
}
