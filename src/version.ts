/**
 * pcam's version, from its package.json: the one place it is written down.
 * @module
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PACKAGE_ROOT } from './paths.js'

/** pcam's version (package.json's), recorded in the files it writes: stores, runs, exports. */
export const PCAM_VERSION: string = (
  JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }
).version
