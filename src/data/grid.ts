/**
 * A grid of patches as one PNG, each with a coloured border and caption lines below it: what
 * `pcam data show` and the top-losses picture draw.
 * @module
 */
import sharp, { type OverlayOptions } from 'sharp'

export interface GridTile {
  /** RGB pixels, row-major, height x width x 3. */
  pixels: Uint8Array
  width: number
  height: number
  caption: string[]
  border: string
}

const LINE = 16
const BORDER = 4

// Colour-blind-safe: blue for the first class (normal), orange for the second (tumour).
export const CLASS_COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7']

/** Class names for people: PCam's 0/1 mean "no tumour in the centre" / "tumour in the centre". */
export function displayClassNames(classes: string[]): string[] {
  return classes.join() === '0,1' ? ['0 normal', '1 tumour'] : classes
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Tiles drawn `tile` pixels high (width in proportion), `cols` to a row; returns PNG bytes. */
export async function gridPng(
  tiles: GridTile[],
  options: { cols: number; tile: number },
): Promise<Buffer> {
  const { cols, tile } = options
  const widest = Math.max(...tiles.map((t) => Math.round((tile * t.width) / t.height)))
  const lines = Math.max(...tiles.map((t) => t.caption.length))
  const cell = { width: widest + 2 * BORDER, height: tile + 2 * BORDER + lines * LINE + 2 }
  const composites: OverlayOptions[] = []
  const svgParts: string[] = []
  for (const [n, t] of tiles.entries()) {
    const left = (n % cols) * cell.width
    const top = Math.floor(n / cols) * cell.height
    const width = Math.round((tile * t.width) / t.height)
    const picture = await sharp(t.pixels, {
      raw: { width: t.width, height: t.height, channels: 3 },
    })
      .resize(width, tile, { kernel: 'nearest' })
      .png()
      .toBuffer()
    composites.push({ input: picture, left: left + BORDER, top: top + BORDER })
    svgParts.push(
      `<rect x="${left}" y="${top}" width="${width + 2 * BORDER}" height="${tile + 2 * BORDER}" fill="${t.border}"/>`,
    )
    t.caption.forEach((line, k) =>
      svgParts.push(
        `<text x="${left + cell.width / 2}" y="${top + tile + 2 * BORDER + (k + 1) * LINE - 2}" ` +
          `font-family="sans-serif" font-size="12" text-anchor="middle" fill="#222">${escapeXml(line)}</text>`,
      ),
    )
  }
  const rows = Math.ceil(tiles.length / cols)
  const width = Math.min(cols, tiles.length) * cell.width
  const height = rows * cell.height
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${svgParts.join('')}</svg>`
  return sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite([{ input: Buffer.from(svg), left: 0, top: 0 }, ...composites])
    .png()
    .toBuffer()
}
