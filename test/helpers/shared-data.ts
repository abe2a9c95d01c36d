/**
 * Where the real PCam patches of ../shared/data are, for tests that need them. Tests skip with a
 * clear reason when the folder is absent (a user's clone has no ../shared).
 * @module
 */
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { prepareStore } from '../../src/data/prepare.js'
import { SHARED_DIR } from '../../src/paths.js'

export const SHARED_DATA = join(SHARED_DIR, 'data')
export const PCAM_JPEG = join(SHARED_DATA, 'pcam-jpeg')
export const KAGGLE_SAMPLE = join(SHARED_DATA, 'kaggle-sample')

/** For node:test's `skip` option: false when the data is there, else the reason. */
export const skipWithoutData: string | false =
  existsSync(PCAM_JPEG) && existsSync(KAGGLE_SAMPLE)
    ? false
    : `real PCam patches not found at ${SHARED_DATA} (set PCAM_SHARED to the shared folder to run these tests)`

/** Links `count` patches of each class of PCam's valid folder, from `offset` on, into dir/<label>/. */
export function linkPcamPatches(
  dir: string,
  { count, offset = 0 }: { count: number; offset?: number },
): void {
  for (const label of ['0', '1']) {
    mkdirSync(join(dir, label), { recursive: true })
    const files = readdirSync(join(PCAM_JPEG, 'valid', label)).sort()
    for (const f of files.slice(offset, offset + count))
      symlinkSync(join(PCAM_JPEG, 'valid', label, f), join(dir, label, f))
  }
}

/**
 * A store at root/real-store of real PCam patches: the first `count` of each class of PCam's
 * valid folder to train on, the next `count` to validate on.
 */
export async function realStore(root: string, count: number): Promise<string> {
  linkPcamPatches(join(root, 'real', 'train'), { count })
  linkPcamPatches(join(root, 'real', 'valid'), { count, offset: count })
  const store = join(root, 'real-store')
  await prepareStore({ sources: [join(root, 'real')], out: store, split: null })
  return store
}
