/**
 * A labelled grid of patches as PNG, like fastai's show_batch: what the network sees, with each
 * patch's class (border colour and caption), optionally after training augmentation.
 * @module
 */
import sharp, { type OverlayOptions } from 'sharp'
import { ValidationError } from '../errors.js'
import { Generator, noGrad, scope, tensor } from '../torch/index.js'
import { prepareBatch, type AugmentOptions } from './augment.js'
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

const CAPTION = 18
const BORDER = 4
// Colour-blind-safe pair: blue for the first class (normal), orange for the second (tumour).
const CLASS_COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7']

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`)
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
  // PCam's labels are 0/1 for "no tumour in the centre" / "tumour in the centre": say so.
  const pcamLabels = store.meta.classes.join() === '0,1'
  const classNames = pcamLabels ? ['0 normal', '1 tumour'] : store.meta.classes
  const cell = { width: tile + 2 * BORDER, height: tile + 2 * BORDER + CAPTION }
  const composites: OverlayOptions[] = []
  const captions: string[] = []
  for (const [n, index] of chosen.entries()) {
    const label = store.label(index)
    const left = (n % cols) * cell.width
    const top = Math.floor(n / cols) * cell.height
    const colour =
      label === UNLABELLED ? '#888888' : (CLASS_COLOURS[label % CLASS_COLOURS.length] as string)
    const name = label === UNLABELLED ? '?' : (classNames[label] ?? String(label))
    const patch = await sharp(data.subarray(n * size * size * 3, (n + 1) * size * size * 3), {
      raw: { width: size, height: size, channels: 3 },
    })
      .resize(tile, tile, { kernel: 'nearest' })
      .png()
      .toBuffer()
    composites.push({ input: patch, left: left + BORDER, top: top + BORDER })
    captions.push(
      `<rect x="${left}" y="${top}" width="${cell.width}" height="${tile + 2 * BORDER}" fill="${colour}"/>`,
      `<text x="${left + cell.width / 2}" y="${top + tile + 2 * BORDER + 14}" font-family="sans-serif" ` +
        `font-size="13" text-anchor="middle" fill="#222">${escapeXml(name)}</text>`,
    )
  }
  const width = cols * cell.width
  const height = rows * cell.height
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${captions.join('')}</svg>`
  return sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite([{ input: Buffer.from(svg), left: 0, top: 0 }, ...composites])
    .png()
    .toBuffer()
}
