/**
 * A fast path for the commonest patch file: an uncompressed 8-bit RGB TIFF (the Kaggle release).
 * Its strips are copied straight out of the file; anything else returns null and goes to libvips.
 * The file is not trusted: declared sizes and strips are checked before anything is allocated.
 * @module
 */
import { DataError } from '../errors.js'

/** libvips' own default limit (sharp's limitInputPixels), the fast path's default too. */
export const DEFAULT_MAX_PIXELS = 0x3fff * 0x3fff

const TAG = {
  width: 256,
  height: 257,
  bitsPerSample: 258,
  compression: 259,
  photometric: 262,
  stripOffsets: 273,
  samplesPerPixel: 277,
  stripByteCounts: 279,
  planarConfiguration: 284,
} as const

/**
 * Raw pixels of a baseline uncompressed RGB TIFF, or null when the file is anything else. Throws
 * a DataError for a file that declares more than maxPixels or whose strips lie about the file.
 */
export function readPlainRgbTiff(
  file: Buffer,
  options: { maxPixels?: number } = {},
): { pixels: Buffer; width: number; height: number } | null {
  if (file.length < 8) return null
  const little = file[0] === 0x49 && file[1] === 0x49
  if (!little && !(file[0] === 0x4d && file[1] === 0x4d)) return null
  const u16 = (at: number) => (little ? file.readUInt16LE(at) : file.readUInt16BE(at))
  const u32 = (at: number) => (little ? file.readUInt32LE(at) : file.readUInt32BE(at))
  if (u16(2) !== 42) return null
  const ifd = u32(4)
  if (ifd + 2 > file.length) return null
  const count = u16(ifd)
  if (ifd + 2 + count * 12 > file.length) return null
  // Each tag: its values as numbers (SHORT or LONG, inline or at an offset).
  const tags = new Map<number, number[]>()
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12
    const type = u16(entry + 2)
    const n = u32(entry + 4)
    const size = type === 3 ? 2 : type === 4 ? 4 : 0
    if (size === 0) continue
    const at = n * size <= 4 ? entry + 8 : u32(entry + 8)
    if (at + n * size > file.length) return null
    tags.set(
      u16(entry),
      Array.from({ length: n }, (_, k) => (size === 2 ? u16(at + 2 * k) : u32(at + 4 * k))),
    )
  }
  const one = (tag: number, fallback?: number) => tags.get(tag)?.[0] ?? fallback
  const width = one(TAG.width)
  const height = one(TAG.height)
  const plain =
    one(TAG.compression, 1) === 1 &&
    one(TAG.photometric) === 2 &&
    one(TAG.samplesPerPixel) === 3 &&
    one(TAG.planarConfiguration, 1) === 1 &&
    (tags.get(TAG.bitsPerSample) ?? []).every((b) => b === 8)
  const offsets = tags.get(TAG.stripOffsets)
  const counts = tags.get(TAG.stripByteCounts)
  if (!plain || !width || !height || !offsets || !counts || offsets.length !== counts.length)
    return null
  checkLayout(file.length, width, height, offsets, counts, options.maxPixels ?? DEFAULT_MAX_PIXELS)
  // The checks bound this copy by the file's size: it is a memcpy of at most the upload.
  const pixels = Buffer.allocUnsafe(width * height * 3)
  let filled = 0
  for (let s = 0; s < offsets.length && filled < pixels.length; s++) {
    const start = offsets[s] as number
    const length = Math.min(counts[s] as number, pixels.length - filled)
    filled += file.copy(pixels, filled, start, start + length)
  }
  if (filled !== pixels.length)
    throw new DataError(`TIFF strips hold ${filled} bytes of the ${pixels.length} declared`)
  return { pixels, width, height }
}

/** Refuses declared sizes over the limit or beyond the file, and strips outside the file. */
function checkLayout(
  fileLength: number,
  width: number,
  height: number,
  offsets: number[],
  counts: number[],
  maxPixels: number,
): void {
  const declared = `TIFF declares ${width}x${height}`
  if (width * height > maxPixels)
    throw new DataError(`${declared}, over the limit of ${maxPixels} pixels`)
  // Uncompressed pixels cannot outnumber the file's bytes (strips reusing bytes would).
  if (width * height * 3 > fileLength)
    throw new DataError(`${declared} uncompressed, more than the file's ${fileLength} bytes`)
  offsets.forEach((offset, s) => {
    const end = offset + (counts[s] as number)
    if (end > fileLength)
      throw new DataError(`TIFF strip ${s} (bytes ${offset}-${end}) lies outside the file`)
  })
}
