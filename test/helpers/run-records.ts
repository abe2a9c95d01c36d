/**
 * A run's metrics.jsonl without its timings, for comparing two runs of the same recipe.
 * @module
 */
import { readHistory } from '../../src/run/run-folder.js'

export function untimedRecords(run: string): Record<string, unknown>[] {
  return readHistory(run).map((record) => {
    const untimed: Record<string, unknown> = { ...record }
    delete untimed.seconds
    delete untimed.imagesPerSec
    delete untimed.validSeconds
    delete untimed.rssMb
    return untimed
  })
}
