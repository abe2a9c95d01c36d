/**
 * What an image file claims to be, from its signature bytes, so a decoding failure can say what
 * is wrong ("not a valid JPEG") where libvips says only "Unknown error" or names its own internals.
 * @module
 */

const SIGNATURES: { format: string; bytes: number[] }[] = [
  { format: 'PNG', bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { format: 'JPEG', bytes: [0xff, 0xd8, 0xff] },
  { format: 'TIFF', bytes: [0x49, 0x49, 0x2a, 0x00] },
  { format: 'TIFF', bytes: [0x4d, 0x4d, 0x00, 0x2a] },
]

/** PNG, JPEG or TIFF by signature, or null for anything else. */
export function imageFormatOf(bytes: Uint8Array): string | null {
  const found = SIGNATURES.find((s) => s.bytes.every((b, i) => bytes[i] === b))
  return found ? found.format : null
}

/** Why bytes that failed to decode are unusable, in one line, with the decoder's first line. */
export function describeDecodeFailure(bytes: Uint8Array, error: unknown): string {
  const detail = String((error as Error)?.message ?? error).split('\n')[0]
  const format = imageFormatOf(bytes)
  if (format === null) {
    const start = Buffer.from(bytes.subarray(0, 4)).toString('hex')
    return `not a PNG, JPEG or TIFF file (${bytes.length} bytes starting 0x${start})`
  }
  const said = detail && !/^unknown error$/i.test(detail.trim()) ? `: ${detail}` : ''
  return `not a valid ${format} (truncated or corrupt)${said}`
}
