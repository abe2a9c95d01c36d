/**
 * Draws a Vega-Lite specification headlessly: SVG from Vega's own renderer, PNG rasterised from
 * that SVG by sharp (librsvg), at twice the nominal size for sharp text.
 * @module
 */
import { writeFile } from 'node:fs/promises'
import sharp from 'sharp'
import { parse, View } from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

async function svgToPng(svg: string, scale = 2): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * scale })
    .flatten({ background: '#ffffff' })
    .png()
    .toBuffer()
}

/** Writes `<base>.svg` and `<base>.png`; returns both paths. */
export async function writeChart(
  spec: TopLevelSpec,
  base: string,
): Promise<{ svg: string; png: string }> {
  const svg = await renderSvg(spec)
  await writeFile(`${base}.svg`, svg)
  await writeFile(`${base}.png`, await svgToPng(svg))
  return { svg: `${base}.svg`, png: `${base}.png` }
}
