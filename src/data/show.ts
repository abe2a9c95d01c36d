/**
 * A labelled grid of patches as PNG, like fastai's show_batch: what the network sees, with each
 * patch's class (border colour and caption), optionally after training augmentation.
 * @module
 */
import { ValidationError } from '../errors.js'
import { Generator, noGrad, scope, tensor } from '../torch/index.js'
import { prepareBatch, type AugmentOptions } from './augment.js'
import { CLASS_COLOURS, displayClassNames, gridPng, type GridTile } from './grid.js'
import { seededRandom, shuffle } from './split.js'
import type { SplitName } from './sources/source.js'
import { UNLABELLED, type PatchStore } from './store.js'

export interface ShowOptions {
  rows: number
  cols: number
  split: SplitName | null
  seed: number
  augment: AugmentOptions | null
  /** Pixels per patch side in the picture. */
  tile: number
}

/** Renders the grid; returns PNG bytes. */
export async function showBatch(store: PatchStore, options: ShowOptions): Promise<Buffer> {
  const { rows, cols, tile } = options
  const pool = options.split ? store.indicesOf(options.split) : [...Array(store.count).keys()]
  if (pool.length === 0)
    throw new ValidationError(`The store has no ${options.split} patches to show`)
  const chosen = shuffle(pool, seededRandom(options.seed)).slice(0, rows * cols)
  const pixels = noGrad(() =>
    scope(() => {
      const { images } = store.gather(tensor(BigInt64Array.from(chosen, BigInt)))
      const x = prepareBatch(images, {
        size: store.meta.height,
        normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
        augment: options.augment,
        generator: new Generator(options.seed),
      })
      return x.mul(255).round().clamp(0, 255).to('uint8').permute(0, 2, 3, 1).contiguous()
    }),
  )
  const size = store.meta.height
  const data = pixels.data() as Uint8Array
  pixels.dispose()
  const classNames = displayClassNames(store.meta.classes)
  const tiles: GridTile[] = chosen.map((index, n) => {
    const label = store.label(index)
    return {
      pixels: data.subarray(n * size * size * 3, (n + 1) * size * size * 3),
      width: size,
      height: size,
      caption: [label === UNLABELLED ? '?' : (classNames[label] ?? String(label))],
      border:
        label === UNLABELLED ? '#888888' : (CLASS_COLOURS[label % CLASS_COLOURS.length] as string),
    }
  })
  return gridPng(tiles, { cols, tile })
}
