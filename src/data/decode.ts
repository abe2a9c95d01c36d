/**
 * Decoding patches to raw RGB pixels with libvips (sharp): PNG, JPEG and TIFF only (sniffed from
 * the bytes), grey or with alpha converted to three channels, never more pixels than allowed.
 * @module
 */
import sharp from 'sharp'
import { DataError } from '../errors.js'
import { readPlainRgbTiff } from './tiff.js'

/** libvips' own default limit (sharp's limitInputPixels). */
export const DEFAULT_MAX_PIXELS = 0x3fff * 0x3fff

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

const FORMAT_NAMES: Record<PatchFormat, string> = { png: 'PNG', jpeg: 'JPEG', tiff: 'TIFF' }

/** The format the first bytes announce; libvips would also read SVG, GIF, WebP... but we don't. */
export function sniffFormat(encoded: Buffer): PatchFormat | null {
  const starts = (...bytes: number[]) => bytes.every((b, k) => encoded[k] === b)
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png'
  if (starts(0xff, 0xd8, 0xff)) return 'jpeg'
  if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a)) return 'tiff'
  return null
}

/** The bytes' format, or a DataError saying what they are not (with their first bytes). */
function acceptedFormat(encoded: Buffer): PatchFormat {
  const format = sniffFormat(encoded)
  if (format) return format
  const start = encoded.subarray(0, 4).toString('hex')
  throw new DataError(`not a PNG, JPEG or TIFF file (${encoded.length} bytes starting 0x${start})`)
}

/** libvips' failure as what is wrong with the file: it often says only "Unknown error". */
function notValid(format: PatchFormat, error: Error): DataError {
  const detail = error.message.split('\n')[0]!.trim()
  const said = detail && !/^unknown error$/i.test(detail) ? `: ${detail}` : ''
  return new DataError(`not a valid ${FORMAT_NAMES[format]} (truncated or corrupt)${said}`, {
    cause: error,
  })
}

/** The one refusal of a declared size over the limit. */
function checkDeclared(width: number, height: number, maxPixels: number | undefined): void {
  if (maxPixels !== undefined && width * height > maxPixels)
    throw new DataError(`image declares ${width}x${height}, over the limit of ${maxPixels} pixels`)
}

/** Format and size from the header alone: no pixel is decoded. Refuses more than maxPixels. */
export async function readImageHeader(
  encoded: Buffer,
  options: { maxPixels?: number } = {},
): Promise<ImageHeader> {
  const format = acceptedFormat(encoded)
  const { width, height } = await sharp(encoded, { limitInputPixels: false })
    .metadata()
    .catch((error: Error) => {
      throw notValid(format, error)
    })
  checkDeclared(width, height, options.maxPixels)
  return { format, width, height }
}

/**
 * Decodes image bytes; throws a DataError saying what is wrong with a file that is not a PNG,
 * JPEG or TIFF, is corrupt, or declares more than maxPixels.
 */
export async function decodePatch(
  encoded: Buffer,
  options: DecodeOptions = {},
): Promise<DecodedPatch> {
  const format = acceptedFormat(encoded)
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS
  const size = options.resizeTo
  const plain = format === 'tiff' ? readPlainRgbTiff(encoded) : null
  if (plain) checkDeclared(plain.width, plain.height, maxPixels)
  if (plain && (size === undefined || (plain.width === size && plain.height === size))) return plain
  // libvips refuses a header over limitInputPixels itself; a header read per patch would cost
  // more than decoding a Kaggle TIFF, so the header is read again only to explain a failure.
  const input = plain
    ? sharp(plain.pixels, { raw: { width: plain.width, height: plain.height, channels: 3 } })
    : sharp(encoded, { failOn: 'error', limitInputPixels: maxPixels }).removeAlpha()
  if (size !== undefined) input.resize(size, size, { fit: 'cover' })
  const { data, info } = await input
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true })
    .catch(async (error: Error) => {
      await readImageHeader(encoded, { maxPixels })
      throw notValid(format, error)
    })
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`)
  return { pixels: data, height: info.height, width: info.width }
}

/** Encodes raw RGB pixels as PNG (grids, heatmaps, test fixtures). */
export function encodePng(pixels: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer()
}
