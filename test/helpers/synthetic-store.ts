/**
 * A small synthetic patch store that a network learns in seconds: 16x16 patches (or larger), class
 * 1 with a bright square in the centre (as PCam's label is about tumour in the centre region).
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodePng } from '../../src/data/decode.js'
import { prepareStore } from '../../src/data/prepare.js'
import { trainConfig, type TrainConfig } from '../../src/recipe/train-config.js'

/** Where each class of a k-class store has its bright square (row, column of its corner). */
const SQUARES: [number, number][] = [
  [2, 2],
  [2, 10],
  [10, 6],
]

/**
 * Writes class folders under <root>/src and the store at <root>/store; returns the store path.
 * Two classes: 0 and 1, class 1 with the centre square. Three: class0..class2, each with a square
 * of its own.
 */
export async function makeSyntheticStore(
  root: string,
  {
    train = 96,
    valid = 32,
    classes = 2,
    seed: firstSeed = 1,
    size = 16,
  }: {
    train?: number
    valid?: number
    classes?: 2 | 3
    seed?: number
    /** Patch side in pixels; the squares scale with it (the GPU benchmark uses PCam's 96). */
    size?: number
  } = {},
): Promise<string> {
  const scale = size / 16
  let seed = firstSeed
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647
  for (const split of ['train', 'valid'] as const) {
    for (let i = 0; i < (split === 'train' ? train : valid); i++) {
      const label = i % classes
      const pixels = new Uint8Array(size * size * 3).map(() => 60 + random() * 80)
      const square: [number, number] | undefined =
        classes === 2 ? (label ? [6, 6] : undefined) : SQUARES[label]
      if (square) {
        const [y0, x0] = square.map((v) => Math.round(v * scale)) as [number, number]
        const side = Math.round(4 * scale)
        for (let y = y0; y < y0 + side; y++)
          for (let x = x0; x < x0 + side; x++)
            pixels.fill(230, (y * size + x) * 3, (y * size + x) * 3 + 3)
      }
      const name = classes === 2 ? String(label) : `class${label}`
      mkdirSync(join(root, 'src', split, name), { recursive: true })
      writeFileSync(
        join(root, 'src', split, name, `p${i}.png`),
        await encodePng(pixels, size, size),
      )
    }
  }
  const store = join(root, 'store')
  await prepareStore({ sources: [join(root, 'src')], out: store, split: null })
  return store
}

/**
 * A small CNN, 3 epochs, on a synthetic store: a few seconds on two cores. In fp32 on every
 * machine, so that what the tests compare (engines, resumes) does not depend on the CPU's units.
 */
export const syntheticTrainConfig = (store: string, out: string): TrainConfig =>
  trainConfig({
    store,
    out,
    precision: 'fp32',
    head: 'linear',
    batchSize: 16,
    freezeEpochs: 0,
    epochs: 3,
    lr: 3e-3,
    seed: 7,
    augment: { dihedral: true, brightness: 0.1 },
    threshold: { kind: 'youden' },
  })
