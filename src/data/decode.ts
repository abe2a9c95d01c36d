/**
 * Decoding patches to raw RGB pixels with libvips (sharp): PNG, JPEG and TIFF only (sniffed from
 * the bytes), grey or with alpha converted to three channels, never more pixels than allowed.
 * @module
 */
import sharp from 'sharp'
import { DataError } from '../errors.js'
import { DEFAULT_MAX_PIXELS, readPlainRgbTiff } from './tiff.js'

// Patches are tiny: one libvips thread per image and many images at once is what scales.
sharp.concurrency(1)
sharp.cache(false)

export interface DecodedPatch {
  pixels: Buffer
  height: number
  width: number
}

export interface DecodeOptions {
  /** Refuse images declaring more pixels, from their header, before decoding (default libvips'). */
  maxPixels?: number
  /** Resize (cover) to resizeTo x resizeTo while decoding. */
  resizeTo?: number
}

export type PatchFormat = 'png' | 'jpeg' | 'tiff'

export interface ImageHeader {
  format: PatchFormat
  width: number
  height: number
}

const NOT_ACCEPTED = 'not a PNG, JPEG or TIFF file'

/** The format the first bytes announce; libvips would also read SVG, GIF, WebP... but we don't. */
export function sniffFormat(encoded: Buffer): PatchFormat | null {
  const starts = (...bytes: number[]) => bytes.every((b, k) => encoded[k] === b)
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png'
  if (starts(0xff, 0xd8, 0xff)) return 'jpeg'
  if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a)) return 'tiff'
  return null
}

/** Format and size from the header alone: no pixel is decoded. */
export async function readImageHeader(encoded: Buffer): Promise<ImageHeader> {
  const format = sniffFormat(encoded)
  if (!format) throw new DataError(NOT_ACCEPTED)
  const { width, height } = await sharp(encoded).metadata()
  return { format, width, height }
}

/** Decodes image bytes; throws libvips' reason for a corrupt or unsupported file. */
export async function decodePatch(
  encoded: Buffer,
  options: DecodeOptions = {},
): Promise<DecodedPatch> {
  if (!sniffFormat(encoded)) throw new DataError(NOT_ACCEPTED)
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS
  const size = options.resizeTo
  const plain = readPlainRgbTiff(encoded, { maxPixels })
  if (plain && (size === undefined || (plain.width === size && plain.height === size))) return plain
  const input = plain
    ? sharp(plain.pixels, { raw: { width: plain.width, height: plain.height, channels: 3 } })
    : sharp(encoded, { failOn: 'error', limitInputPixels: maxPixels }).removeAlpha()
  if (size !== undefined) input.resize(size, size, { fit: 'cover' })
  const { data, info } = await input
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true })
    .catch(async (error: Error) => {
      throw await overLimit(error, encoded, maxPixels)
    })
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`)
  return { pixels: data, height: info.height, width: info.width }
}

/** libvips' "exceeds pixel limit" with the declared size, which it does not say. */
async function overLimit(error: Error, encoded: Buffer, maxPixels: number): Promise<Error> {
  if (!/pixel limit/.test(error.message)) return error
  const { width, height } = await sharp(encoded, { limitInputPixels: false }).metadata()
  return new DataError(`image declares ${width}x${height}, over the limit of ${maxPixels} pixels`)
}

/** Encodes raw RGB pixels as PNG (grids, heatmaps, test fixtures). */
export function encodePng(pixels: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer()
}
