/**
 * Hostile image files for the limit tests: small files whose headers declare huge images
 * (decompression bombs), built byte by byte so that making them costs nothing.
 * @module
 */
import { crc32, deflateSync } from 'node:zlib'

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

/**
 * A valid-looking 8-bit RGB PNG that declares width x height but carries only the first rows
 * (zeros): what a decoder sees before it allocates the image.
 */
export function pngDeclaring(width: number, height: number, rows = 64): Buffer {
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header.set([8, 2, 0, 0, 0], 8) // 8 bits, RGB, deflate, no filter method, no interlace
  const pixels = deflateSync(Buffer.alloc(rows * (width * 3 + 1)))
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', pixels),
    pngChunk('IEND', Buffer.alloc(0)),
  ])
}

/**
 * An uncompressed little-endian RGB TIFF of width x height whose strips are given as
 * [offset into `data`, byte count] pairs: strips may overlap or point past the file's end.
 */
export function plainTiff(
  width: number,
  height: number,
  strips: [number, number][],
  data: Buffer,
): Buffer {
  const tags: [tag: number, type: 3 | 4, values: number[]][] = [
    [256, 4, [width]],
    [257, 4, [height]],
    [258, 3, [8, 8, 8]],
    [259, 3, [1]],
    [262, 3, [2]],
    [273, 4, []], // strip offsets, filled in below once the layout is known
    [277, 3, [3]],
    [278, 4, [Math.ceil(height / strips.length)]],
    [279, 4, strips.map(([, count]) => count)],
    [284, 3, [1]],
  ]
  const ifdSize = 2 + tags.length * 12 + 4
  const arrays = (count: number) => 8 + ifdSize + 6 + 8 * count // bits, offsets and counts
  const dataStart = arrays(strips.length)
  tags[5]![2] = strips.map(([offset]) => dataStart + offset)
  const file = Buffer.alloc(dataStart + data.length)
  file.write('II', 0, 'latin1')
  file.writeUInt16LE(42, 2)
  file.writeUInt32LE(8, 4)
  file.writeUInt16LE(tags.length, 8)
  let spill = 8 + ifdSize // where values that do not fit in an entry go
  tags.forEach(([tag, type, values], i) => {
    const entry = 10 + i * 12
    file.writeUInt16LE(tag, entry)
    file.writeUInt16LE(type, entry + 2)
    file.writeUInt32LE(values.length, entry + 4)
    const size = type === 3 ? 2 : 4
    let at = entry + 8
    if (values.length * size > 4) {
      file.writeUInt32LE(spill, entry + 8)
      at = spill
      spill += values.length * size
    }
    values.forEach((v, k) =>
      size === 2 ? file.writeUInt16LE(v, at + 2 * k) : file.writeUInt32LE(v, at + 4 * k),
    )
  })
  data.copy(file, dataStart)
  return file
}

/**
 * A TIFF declaring side x side whose strips, one per row, all point at the same row of bytes:
 * a few hundred kilobytes that would be side x side x 3 bytes decoded.
 */
export function tiffBomb(side: number): Buffer {
  const row = side * 3
  const strips = Array.from({ length: side }, (): [number, number] => [0, row])
  return plainTiff(side, side, strips, Buffer.alloc(row, 200))
}

/** A small SVG: a format libvips renders but the server must never accept. */
export const SVG_PATCH = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16">' +
    '<rect width="16" height="16" fill="#c08080"/></svg>',
)

/**
 * `tiff` with `repeat` more IFD entries, of `tags` in turn, each a LONG array spanning the whole
 * file: a reader that reads every entry's values does repeat x (file length / 4) reads.
 */
export function withSpanningEntries(tiff: Buffer, tags: number[], repeat: number): Buffer {
  const oldIfd = tiff.readUInt32LE(4)
  const oldCount = tiff.readUInt16LE(oldIfd)
  const ifd = tiff.length + (tiff.length % 2) // IFDs start on a word boundary
  const count = oldCount + repeat
  const file = Buffer.alloc(ifd + 2 + count * 12 + 4)
  tiff.copy(file)
  file.writeUInt32LE(ifd, 4)
  file.writeUInt16LE(count, ifd)
  tiff.copy(file, ifd + 2, oldIfd + 2, oldIfd + 2 + oldCount * 12)
  for (let i = oldCount; i < count; i++) {
    const entry = ifd + 2 + i * 12
    file.writeUInt16LE(tags[i % tags.length]!, entry)
    file.writeUInt16LE(4, entry + 2)
    file.writeUInt32LE(Math.floor(file.length / 4), entry + 4)
    file.writeUInt32LE(0, entry + 8)
  }
  return file
}
