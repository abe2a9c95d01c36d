/**
 * Decoding patches to raw RGB pixels with libvips (sharp): PNG, JPEG and TIFF, grey or with
 * alpha converted to three channels.
 * @module
 */
import sharp from 'sharp'
import { readPlainRgbTiff } from './tiff.js'

// Patches are tiny: one libvips thread per image and many images at once is what scales.
sharp.concurrency(1)
sharp.cache(false)

export interface DecodedPatch {
  pixels: Buffer
  height: number
  width: number
}

/** Decodes image bytes; throws libvips' reason for a corrupt or unsupported file. */
export async function decodePatch(encoded: Buffer): Promise<DecodedPatch> {
  const plain = readPlainRgbTiff(encoded)
  if (plain) return { pixels: plain.pixels, height: plain.height, width: plain.width }
  const { data, info } = await sharp(encoded, { failOn: 'error' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true })
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`)
  return { pixels: data, height: info.height, width: info.width }
}

/** Encodes raw RGB pixels as PNG (grids, heatmaps, test fixtures). */
export function encodePng(pixels: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer()
}
