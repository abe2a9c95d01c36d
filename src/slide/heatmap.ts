/**
 * Pictures of a slide's prediction: the heatmap (one pixel per grid cell, jet colours, transparent
 * where nothing was predicted) and the overlay (the thumbnail with the heatmap blended in, the
 * tissue outline, and a colour-scale legend below).
 * @module
 */
import sharp from 'sharp'
import { jet } from '../eval/gradcam.js'
import { scope, tensor } from '../torch/index.js'
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
  const pixels = thumbnail.image.data() as Uint8Array
  const colours = heatmapRgba(probabilities)
  const d = thumbnail.downsample
  const offset = (grid.tileSize0 - grid.stride0) / 2
  for (let y = 0; y < height; y++) {
    const row = Math.floor(((y + 0.5) * d - offset) / grid.stride0)
    for (let x = 0; x < width; x++) {
      const col = Math.floor(((x + 0.5) * d - offset) / grid.stride0)
      if (row < 0 || col < 0 || row >= grid.rows || col >= grid.cols) continue
      const cell = (row * grid.cols + col) * 4
      if (colours[cell + 3] === 0) continue
      for (let k = 0; k < 3; k++) {
        const i = (y * width + x) * 3 + k
        pixels[i] = Math.round((pixels[i]! + colours[cell + k]!) / 2)
      }
    }
  }
  if (mask) outline(pixels, mask, width, height)
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .extend({ bottom: LEGEND_HEIGHT, background: '#ffffff' })
    .composite([{ input: legendSvg(width, threshold), top: height, left: 0 }])
    .png()
    .toBuffer()
}

// Marks mask pixels with a background neighbour (the mask has the thumbnail's geometry).
function outline(pixels: Uint8Array, mask: TissueMask, width: number, height: number): void {
  const m = (x: number, y: number) =>
    x < 0 || y < 0 || x >= mask.width || y >= mask.height ? 0 : mask.mask[y * mask.width + x]!
  for (let y = 0; y < Math.min(height, mask.height); y++) {
    for (let x = 0; x < Math.min(width, mask.width); x++) {
      if (!m(x, y)) continue
      if (m(x - 1, y) && m(x + 1, y) && m(x, y - 1) && m(x, y + 1)) continue
      pixels.set([0, 200, 0], (y * width + x) * 3)
    }
  }
}
