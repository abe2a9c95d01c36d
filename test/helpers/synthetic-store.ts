/**
 * A small synthetic patch store that a network learns in seconds: 16x16 patches, class 1 with a
 * bright square in the centre (as PCam's label is about tumour in the centre region).
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodePng } from '../../src/data/decode.js'
import { prepareStore } from '../../src/data/prepare.js'
import type { TrainConfig } from '../../src/recipe/train.js'

/** Writes class folders under <root>/src and the store at <root>/store; returns the store path. */
export async function makeSyntheticStore(
  root: string,
  counts: { train: number; valid: number } = { train: 96, valid: 32 },
): Promise<string> {
  let seed = 1
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647
  for (const split of ['train', 'valid'] as const) {
    for (let i = 0; i < counts[split]; i++) {
      const label = i % 2
      const pixels = new Uint8Array(16 * 16 * 3).map(() => 60 + random() * 80)
      if (label)
        for (let y = 6; y < 10; y++)
          for (let x = 6; x < 10; x++) pixels.fill(230, (y * 16 + x) * 3, (y * 16 + x) * 3 + 3)
      mkdirSync(join(root, 'src', split, String(label)), { recursive: true })
      writeFileSync(
        join(root, 'src', split, String(label), `p${i}.png`),
        await encodePng(pixels, 16, 16),
      )
    }
  }
  const store = join(root, 'store')
  await prepareStore({ sources: [join(root, 'src')], out: store, split: null })
  return store
}

/** A small CNN, 3 epochs, on a synthetic store: a few seconds on two cores. */
export const syntheticTrainConfig = (store: string, out: string): TrainConfig => ({
  store,
  out,
  arch: 'small',
  head: 'linear',
  pretrained: null,
  size: null,
  batchSize: 16,
  freezeEpochs: 0,
  epochs: 3,
  lr: 3e-3,
  seed: 7,
  wd: 0.01,
  mixedPrecision: false,
  augment: { dihedral: true, brightness: 0.1 },
  threshold: { kind: 'youden' },
})
