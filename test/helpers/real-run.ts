/**
 * A small run trained one epoch on real PCam patches (the last `perClass` of each class of
 * pcam-jpeg/valid, symlinked), its store prepared with --mpp 0.972 so slide prediction knows the
 * model's µm/px. For tests that need a model whose probabilities mean something on real tissue.
 * @module
 */
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { prepareStore } from '../../src/data/prepare.js'
import { train } from '../../src/recipe/train.js'
import { PCAM_JPEG } from './shared-data.js'
import { syntheticTrainConfig } from './synthetic-store.js'

/** Trains the run in <root>/run (patches in <root>/src, store in <root>/store); returns its path. */
export async function trainRealRun(root: string, perClass: number): Promise<string> {
  for (const label of ['0', '1']) {
    mkdirSync(join(root, 'src', label), { recursive: true })
    const files = readdirSync(join(PCAM_JPEG, 'valid', label))
      .sort()
      .slice(-perClass)
    for (const f of files)
      symlinkSync(join(PCAM_JPEG, 'valid', label, f), join(root, 'src', label, f))
  }
  const store = join(root, 'store')
  await prepareStore({ sources: [join(root, 'src')], out: store, split: null, mpp: 0.972 })
  const run = join(root, 'run')
  await train({ ...syntheticTrainConfig(store, run), epochs: 1, batchSize: 32 })
  return run
}
