/**
 * Inputs for the fuzz targets: valid seeds changed by a few byte-level edits (bit flips, boundary
 * integers written over length fields, insertions, deletions, truncations, chunks copied from one
 * place to another), plus wholly random bytes. fast-check generates the edit lists and, when a
 * property fails, shrinks them to the fewest edits that still fail.
 * @module
 */
import fc from 'fast-check'

type Edit =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'boundary'; at: number; value: number; width: 1 | 2 | 4; little: boolean }
  | { kind: 'copy'; from: number; to: number; length: number }

// Values that sit on the edges parsers get wrong: zero, sign bits, all ones, one past a byte.
const BOUNDARIES = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0xffffffff]

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.nat(255) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 64 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('boundary' as const),
    at: fc.nat(),
    value: fc.constantFrom(...BOUNDARIES),
    width: fc.constantFrom(1 as const, 2 as const, 4 as const),
    little: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('copy' as const),
    from: fc.nat(),
    to: fc.nat(),
    length: fc.nat(256),
  }),
)

function apply(seed: Buffer, edits: Edit[]): Buffer {
  let bytes = Buffer.from(seed)
  for (const e of edits) {
    const n = bytes.length
    if (e.kind === 'insert') {
      const at = n === 0 ? 0 : e.at % (n + 1)
      bytes = Buffer.concat([bytes.subarray(0, at), e.bytes, bytes.subarray(at)])
      continue
    }
    if (n === 0) continue
    const at = 'at' in e ? e.at % n : 0
    switch (e.kind) {
      case 'flip':
        bytes[at] = (bytes[at] as number) ^ (1 << e.bit)
        break
      case 'set':
        bytes[at] = e.byte
        break
      case 'delete':
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + e.length)])
        break
      case 'truncate':
        bytes = bytes.subarray(0, at)
        break
      case 'boundary':
        for (let k = 0; k < e.width && at + k < n; k++) {
          const shift = 8 * (e.little ? k : e.width - 1 - k)
          bytes[at + k] = Math.floor(e.value / 2 ** shift) & 0xff
        }
        break
      case 'copy': {
        const from = e.from % n
        const chunk = Buffer.from(bytes.subarray(from, from + e.length))
        chunk.copy(bytes, e.to % n)
        break
      }
    }
  }
  return bytes
}

/** Seeds with up to eight edits each, or (one time in ten) random bytes. */
export function mutations(seeds: Buffer[]): fc.Arbitrary<Buffer> {
  const edited = fc
    .tuple(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 8 }))
    .map(([seed, edits]) => apply(seed, edits))
  const random = fc.uint8Array({ maxLength: 1024 }).map((a) => Buffer.from(a))
  return fc.oneof({ arbitrary: edited, weight: 9 }, { arbitrary: random, weight: 1 })
}
