/**
 * Pictures of a slide's prediction: the heatmap (one pixel per grid cell, jet colours, transparent
 * where nothing was predicted) and the overlay (the thumbnail with the heatmap blended in, the
 * tissue outline, and a colour-scale legend below).
 * @module
 */
import sharp from 'sharp'
import { jet } from '../eval/gradcam.js'
import { fromBytes, pad, scope, tensor, where, type Tensor } from '../torch/index.js'
import type { TileGrid } from './grid.js'
import type { Thumbnail, TissueMask } from './tissue.js'

/** Jet colours of probabilities (NaN: no prediction) as RGBA bytes, alpha 0 where NaN. */
export function heatmapRgba(probabilities: Float32Array): Uint8Array {
  const colours = scope(
    () =>
      jet(tensor(probabilities.map((p) => (Number.isNaN(p) ? 0 : p))).clamp(0, 1))
        .mul(255)
        .round()
        .to('uint8')
        .data() as Uint8Array,
  )
  const rgba = new Uint8Array(probabilities.length * 4)
  probabilities.forEach((p, i) => {
    rgba.set(colours.subarray(i * 3, i * 3 + 3), i * 4)
    rgba[i * 4 + 3] = Number.isNaN(p) ? 0 : 255
  })
  return rgba
}

/** heatmap.png: grid.cols x grid.rows pixels, one per grid cell. */
export function heatmapPng(probabilities: Float32Array, grid: TileGrid): Promise<Buffer> {
  return sharp(heatmapRgba(probabilities), {
    raw: { width: grid.cols, height: grid.rows, channels: 4 },
  })
    .png()
    .toBuffer()
}

const LEGEND_HEIGHT = 44

// Jet's colour stops, as gradcam.ts's jet() computes them.
const JET_STOPS = [
  [0, '#000080'],
  [0.125, '#0000ff'],
  [0.375, '#00ffff'],
  [0.625, '#ffff00'],
  [0.875, '#ff0000'],
  [1, '#800000'],
] as const

function legendSvg(width: number, threshold: number): Buffer {
  const bar = Math.max(100, Math.min(width - 20, 400))
  const stops = JET_STOPS.map(([o, c]) => `<stop offset="${o}" stop-color="${c}"/>`).join('')
  const tick = 10 + threshold * bar
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${LEGEND_HEIGHT}">` +
      `<rect width="100%" height="100%" fill="white"/>` +
      `<defs><linearGradient id="g">${stops}</linearGradient></defs>` +
      `<rect x="10" y="6" width="${bar}" height="12" fill="url(#g)"/>` +
      `<line x1="${tick}" x2="${tick}" y1="3" y2="21" stroke="black" stroke-width="2"/>` +
      `<text x="10" y="36" font-size="12" font-family="sans-serif">0</text>` +
      `<text x="${10 + bar}" y="36" font-size="12" font-family="sans-serif" text-anchor="end">1</text>` +
      `<text x="${10 + bar / 2}" y="36" font-size="12" font-family="sans-serif" text-anchor="middle">` +
      `tumour probability (threshold ${threshold.toFixed(2)})</text></svg>`,
  )
}

/** overlay.png: the thumbnail, heatmap blended half and half, tissue outline in green, legend. */
export async function overlayPng(
  thumbnail: Thumbnail,
  mask: TissueMask | null,
  probabilities: Float32Array,
  grid: TileGrid,
  threshold: number,
): Promise<Buffer> {
  const [height, width] = thumbnail.image.shape as [number, number]
  const colours = heatmapRgba(probabilities)
  // A table of the cells' colours plus 1 (see below) and alpha, with one transparent row and
  // column more that stand for "outside the grid": pixel (x, y) takes entry row(y) * span + col(x).
  const span = grid.cols + 1
  const entries = new Float32Array((grid.rows + 1) * span * 4)
  for (let row = 0; row < grid.rows; row++)
    for (let col = 0; col < grid.cols; col++) {
      const cell = (row * grid.cols + col) * 4
      const entry = (row * span + col) * 4
      for (let k = 0; k < 3; k++) entries[entry + k] = colours[cell + k]! + 1
      entries[entry + 3] = colours[cell + 3]!
    }
  const d = thumbnail.downsample
  const offset = (grid.tileSize0 - grid.stride0) / 2
  // The grid row (column) under each thumbnail row (column) centre; `count` outside the grid.
  const cell = (i: number, count: number) => {
    const c = Math.floor(((i + 0.5) * d - offset) / grid.stride0)
    return BigInt(c >= 0 && c < count ? c : count)
  }
  const rows = BigInt64Array.from({ length: height }, (_, y) => cell(y, grid.rows) * BigInt(span))
  const cols = BigInt64Array.from({ length: width }, (_, x) => cell(x, grid.cols))
  const pixels = scope(() => {
    const image = thumbnail.image
    const index = tensor(rows, { shape: [height, 1] }).add(tensor(cols, { shape: [1, width] }))
    const table = tensor(entries, { shape: [entries.length / 4, 4] })
    const heat = table.indexSelect(0, index.reshape(-1)).reshape(height, width, 4)
    // (a + h + 1) / 2 truncated is Math.round((a + h) / 2), halves up (torch's round is to even).
    const blended = heat.slice(2, 0, 3).add(image).div_(2).to('uint8')
    let out = where(heat.slice(2, 3, 4).gt(0), blended, image)
    if (mask) out = where(outline(mask).unsqueeze(-1), tensor(Uint8Array.of(0, 200, 0)), out)
    return out.data() as Uint8Array
  })
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .extend({ bottom: LEGEND_HEIGHT, background: '#ffffff' })
    .composite([{ input: legendSvg(width, threshold), top: height, left: 0 }])
    .png()
    .toBuffer()
}

/**
 * Mask pixels with a background 4-neighbour, H x W bool (outside the mask counts as background;
 * the mask has the thumbnail's geometry): the mask less its erosion by a cross.
 */
function outline(mask: TissueMask): Tensor {
  const { width, height } = mask
  const m = fromBytes(mask.mask, 'uint8', [height, width])
  const p = pad(m, [1, 1, 1, 1])
  const shifted = (dy: number, dx: number) =>
    p.slice(0, 1 + dy, 1 + dy + height).slice(1, 1 + dx, 1 + dx + width)
  const interior = shifted(-1, 0)
    .minimum(shifted(1, 0))
    .minimum(shifted(0, -1))
    .minimum(shifted(0, 1))
  return m.gt(interior)
}
