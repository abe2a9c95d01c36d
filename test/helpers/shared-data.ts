/**
 * Where the real PCam patches of ../shared/data are, for tests that need them. Tests skip with a
 * clear reason when the folder is absent (a user's clone has no ../shared).
 * @module
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { SHARED_DIR } from '../../src/paths.js'

export const SHARED_DATA = join(SHARED_DIR, 'data')
export const PCAM_JPEG = join(SHARED_DATA, 'pcam-jpeg')
export const KAGGLE_SAMPLE = join(SHARED_DATA, 'kaggle-sample')

/** For node:test's `skip` option: false when the data is there, else the reason. */
export const skipWithoutData: string | false =
  existsSync(PCAM_JPEG) && existsSync(KAGGLE_SAMPLE)
    ? false
    : `real PCam patches not found at ${SHARED_DATA} (set PCAM_SHARED to the shared folder to run these tests)`
