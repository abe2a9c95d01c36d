/**
 * Temporary folders for tests, removed when the test (or test file) that made them ends: a full
 * run writes gigabytes of runs, stores and exported models, and CI's disk is shared.
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'

/**
 * A fresh folder `pcam-<name>-XXXXXX` under the system's temporary folder. Made at the top of a
 * file, it goes when the file's tests are done; made inside a test, when that test is.
 */
export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `pcam-${name}-`))
  after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
