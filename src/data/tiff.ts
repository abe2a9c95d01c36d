/**
 * A fast path for the commonest patch file: an uncompressed 8-bit RGB TIFF (the Kaggle release).
 * Its strips are copied straight out of the file; anything else returns null and goes to libvips.
 * The file is not trusted: only the tags read here are looked at, and declared sizes and strips
 * are checked before anything is allocated, so the work is bounded by the file's size.
 * @module
 */
import { DataError } from '../errors.js'

const TAG = {
  width: 256,
  height: 257,
  bitsPerSample: 258,
  compression: 259,
  photometric: 262,
  stripOffsets: 273,
  samplesPerPixel: 277,
  rowsPerStrip: 278,
  stripByteCounts: 279,
  planarConfiguration: 284,
} as const
const KNOWN: ReadonlySet<number> = new Set(Object.values(TAG))

/** Where a tag's values lie: n values of `size` bytes from `at`. */
interface Entry {
  size: 2 | 4
  n: number
  at: number
}

/**
 * Raw pixels of a baseline uncompressed RGB TIFF, or null when the file is anything else. Throws
 * a DataError for a file whose declared size or strips lie about the file. The pixels are at most
 * as many bytes as the file: the caller applies its own pixel limit.
 */
export function readPlainRgbTiff(
  file: Buffer,
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
  // Entries are only located here, never read out: a crafted IFD of 65535 entries, each
  // spanning the file, would otherwise be billions of reads on the caller's thread.
  const entries = new Map<number, Entry>()
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12
    const tag = u16(entry)
    if (!KNOWN.has(tag)) continue
    const type = u16(entry + 2)
    const size = type === 3 ? 2 : type === 4 ? 4 : 0
    if (size === 0) continue
    const n = u32(entry + 4)
    const at = n * size <= 4 ? entry + 8 : u32(entry + 8)
    if (at + n * size > file.length) return null
    entries.set(tag, { size, n, at })
  }
  const valueOf = (e: Entry, k: number) => (e.size === 2 ? u16(e.at + 2 * k) : u32(e.at + 4 * k))
  const values = (e: Entry) => Array.from({ length: e.n }, (_, k) => valueOf(e, k))
  const one = (tag: number, fallback?: number) => {
    const e = entries.get(tag)
    return e && e.n > 0 ? valueOf(e, 0) : fallback
  }
  const width = one(TAG.width)
  const height = one(TAG.height)
  const bits = entries.get(TAG.bitsPerSample)
  const plain =
    one(TAG.compression, 1) === 1 &&
    one(TAG.photometric) === 2 &&
    one(TAG.samplesPerPixel) === 3 &&
    one(TAG.planarConfiguration, 1) === 1 &&
    (!bits || (bits.n <= 3 && values(bits).every((b) => b === 8)))
  const offsetsAt = entries.get(TAG.stripOffsets)
  const countsAt = entries.get(TAG.stripByteCounts)
  if (!plain || !width || !height || !offsetsAt || !countsAt || offsetsAt.n !== countsAt.n)
    return null
  const declared = `TIFF declares ${width}x${height}`
  // Uncompressed pixels cannot outnumber the file's bytes (strips reusing bytes would).
  if (width * height * 3 > file.length)
    throw new DataError(`${declared} uncompressed, more than the file's ${file.length} bytes`)
  // One strip per RowsPerStrip rows (at most one per row without it): more is a lie, refused
  // before the strip arrays are built.
  const rowsPerStrip = one(TAG.rowsPerStrip)
  const strips = rowsPerStrip ? Math.ceil(height / Math.min(rowsPerStrip, height)) : height
  if (offsetsAt.n > strips)
    throw new DataError(`${declared} in ${offsetsAt.n} strips, more than its ${strips}`)
  const offsets = values(offsetsAt)
  const counts = values(countsAt)
  offsets.forEach((offset, s) => {
    const end = offset + (counts[s] as number)
    if (end > file.length)
      throw new DataError(`TIFF strip ${s} (bytes ${offset}-${end}) lies outside the file`)
  })
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
