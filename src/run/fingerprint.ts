/**
 * A run's model fingerprint: a short hash of its weights (each member's, for an ensemble), which
 * slide outputs record so that results of another model, in a folder kept between runs, are never
 * taken for this model's.
 * @module
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { memberDirs } from './ensemble.js'
import { readRunConfig, RUN_FILES } from './run-folder.js'

/** The first 16 hex digits of SHA-256 over the model weights of `run`, members in order. */
export function modelFingerprint(run: string): string {
  const config = readRunConfig(run)
  const members = memberDirs(run, config)
  const hash = createHash('sha256')
  for (const dir of members.length > 0 ? members : [run])
    hash.update(readFileSync(join(dir, RUN_FILES.model)))
  return hash.digest('hex').slice(0, 16)
}
