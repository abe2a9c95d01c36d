// Decoding refuses what it must before it allocates: headers that declare more pixels than the
// caller allows, TIFF strips that lie about the file, and formats other than PNG, JPEG and TIFF.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import sharp from 'sharp'
import { decodePatch } from '../../src/data/decode.js'
import { readPlainRgbTiff } from '../../src/data/tiff.js'
import { DataError } from '../../src/errors.js'
import {
  plainTiff,
  pngDeclaring,
  SVG_PATCH,
  tiffBomb,
  withSpanningEntries,
} from '../helpers/crafted-images.js'
import { patch, patchFolders, prepareFolder } from '../helpers/patch-folders.js'

/**
 * Growth of the process's peak resident memory (MiB) while fn runs. A refusal from the header
 * allocates nothing; decoding a 16000² bomb would take 768 MB. Unlike time, this does not depend
 * on how loaded the machine is.
 */
async function peakGrowthMiB(fn: () => unknown): Promise<number> {
  const before = process.resourceUsage().maxRSS
  await Promise.resolve()
    .then(fn)
    .catch(() => undefined)
  return (process.resourceUsage().maxRSS - before) / 1024
}

/**
 * How long a crafted input may take, as a ceiling on work that grows with what it declares
 * (billions of reads, gigapixel decodes take minutes), not as a speed goal: the clean refusal
 * takes milliseconds, so a loaded machine stays far below it.
 */
const CEILING_MS = 30_000

describe('decoding limits', () => {
  it('an uncompressed TIFF still decodes through the fast path, bit-exact', async () => {
    const pixels = Buffer.from(Array.from({ length: 6 * 5 * 3 }, (_, k) => (k * 7) % 256))
    const file = plainTiff(6, 5, [[0, pixels.length]], pixels)
    const decoded = readPlainRgbTiff(file)
    assert.deepEqual([decoded?.width, decoded?.height], [6, 5])
    assert.ok(decoded?.pixels.equals(pixels))
    assert.ok((await decodePatch(file)).pixels.equals(pixels))
  })

  it('a TIFF declaring 20000x20000 from strips that all point at the same bytes is refused at once', async () => {
    const bomb = tiffBomb(20000)
    assert.ok(bomb.length < 300_000, `${bomb.length} bytes`)
    assert.throws(() => readPlainRgbTiff(bomb), DataError)
    assert.throws(() => readPlainRgbTiff(bomb), /20000x20000/)
    const grown = await peakGrowthMiB(() => readPlainRgbTiff(bomb))
    assert.ok(grown < 100, `peak memory grew ${grown} MiB for a refused 1.2 GB image`)
  })

  it('a TIFF of 65,000 IFD entries each spanning the file is read (or refused) at once', async () => {
    const pixels = Buffer.from(Array.from({ length: 6 * 5 * 3 }, (_, k) => (k * 3) % 256))
    const tiff = plainTiff(6, 5, [[0, pixels.length]], pixels)
    // Unknown tags are passed over: the image is still the plain one.
    const unknown = withSpanningEntries(tiff, [0x9000], 65_000)
    // StripOffsets and StripByteCounts again, ~200,000 strips for 5 rows: refused unread.
    const strips = withSpanningEntries(tiff, [273, 279], 65_000)
    const start = performance.now()
    assert.ok(readPlainRgbTiff(unknown)?.pixels.equals(pixels))
    assert.throws(
      () => readPlainRgbTiff(strips),
      /TIFF declares 6x5 in \d+ strips, more than its 1/,
    )
    await decodePatch(unknown).catch(() => undefined)
    await assert.rejects(decodePatch(strips), DataError)
    assert.ok(performance.now() - start < CEILING_MS, `${performance.now() - start} ms`)
  })

  it('a TIFF strip outside the file is an error, not a short read', () => {
    const pixels = Buffer.alloc(4 * 4 * 3, 9)
    const file = plainTiff(4, 4, [[1000, pixels.length]], pixels)
    assert.throws(() => readPlainRgbTiff(file), /strip 0 .* outside the file/)
  })

  it('a PNG declaring 16000x16000 is refused from its header under a pixel limit', async () => {
    const bomb = pngDeclaring(16000, 16000)
    await assert.rejects(
      decodePatch(bomb, { maxPixels: 96 * 96 }),
      /16000x16000.*over the limit of 9216 pixels/,
    )
    const grown = await peakGrowthMiB(() => decodePatch(bomb, { maxPixels: 96 * 96 }))
    assert.ok(grown < 100, `peak memory grew ${grown} MiB for a refused 768 MB image`)
  })

  it('SVG, GIF and WebP are refused even when libvips could read them', async () => {
    const webp = await sharp({
      create: { width: 16, height: 16, channels: 3, background: '#c08080' },
    })
      .webp()
      .toBuffer()
    const gif = await sharp(webp).gif().toBuffer()
    for (const bytes of [SVG_PATCH, webp, gif])
      await assert.rejects(decodePatch(bytes), /not a PNG, JPEG or TIFF file/)
  })

  it('resizeTo decodes straight to a square patch', async () => {
    const png = await sharp({
      create: { width: 40, height: 32, channels: 3, background: '#336699' },
    })
      .png()
      .toBuffer()
    const decoded = await decodePatch(png, { resizeTo: 16 })
    assert.deepEqual([decoded.width, decoded.height, decoded.pixels.length], [16, 16, 16 * 16 * 3])
    assert.deepEqual([...decoded.pixels.subarray(0, 3)], [0x33, 0x66, 0x99])
  })
})

describe('decompression bombs in a source', () => {
  it('pcam data prepare refuses a patch that declares 16000x16000 without decoding it', async () => {
    const { folder } = patchFolders('bomb')
    const files: Record<string, Buffer> = { 'train/1/bomb.png': pngDeclaring(16000, 16000) }
    for (let k = 0; k < 4; k++) files[`train/${k % 2}/p${k}.png`] = await patch(90 + k)
    const dir = folder(files)
    const result = await prepareFolder(dir, { skipBad: true, maxSkipped: 0.5 })
    assert.equal(result.count, 4)
    const skipped = readFileSync(join(`${dir}-store`, 'skipped.txt'), 'utf8')
    // Refused from its header (the limit's own message), not after a decode.
    assert.match(skipped, /bomb\.png.*over the limit of 1048576 pixels/)
  })
})
