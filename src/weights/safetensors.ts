/**
 * safetensors, the weight format torchvision, timm and Hugging Face publish: an 8-byte header
 * length, a JSON header (dtype, shape, byte range of each tensor, optional string metadata),
 * then the raw little-endian data.
 * @module
 */
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { DataError } from '../errors.js'
import { DTYPE_BYTES, fromBytes, type Dtype, type Tensor } from '../torch/index.js'

const TO_DTYPE: Record<string, Dtype> = {
  F32: 'float32',
  F64: 'float64',
  F16: 'float16',
  BF16: 'bfloat16',
  U8: 'uint8',
  I8: 'int8',
  I32: 'int32',
  I64: 'int64',
  BOOL: 'bool',
}
const FROM_DTYPE = Object.fromEntries(Object.entries(TO_DTYPE).map(([k, v]) => [v, k])) as Record<
  Dtype,
  string
>

interface HeaderEntry {
  dtype: string
  shape: number[]
  data_offsets: [number, number]
}

/** A header entry's fields, checked (a crafted file may hold anything there), or what is wrong. */
function checkEntry(
  entry: unknown,
): { type: Dtype; shape: number[]; begin: number; end: number } | string {
  if (typeof entry !== 'object' || entry === null) return 'is not an object'
  const { dtype, shape, data_offsets: offsets } = entry as Partial<HeaderEntry>
  const type = typeof dtype === 'string' ? TO_DTYPE[dtype] : undefined
  if (!type) return `has unsupported dtype ${String(dtype)}`
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0
  if (!Array.isArray(shape) || !shape.every(count)) return 'has no valid shape'
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(count))
    return 'has no valid data_offsets'
  return { type, shape, begin: offsets[0], end: offsets[1] }
}

/** Reads every tensor of a .safetensors file (CPU), with the file's metadata. */
export function readSafetensors(path: string): {
  tensors: Map<string, Tensor>
  metadata: Record<string, string>
} {
  const file = readFileSync(path)
  const fail = (why: string) => new DataError(`${path} is not a valid safetensors file: ${why}`)
  if (file.length < 8) throw fail('too short')
  const headerLength = Number(file.readBigUInt64LE(0))
  if (headerLength > file.length - 8) throw fail(`header length ${headerLength} exceeds the file`)
  let header: Record<string, HeaderEntry | Record<string, string>>
  try {
    header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8'))
  } catch (error) {
    throw fail(`header is not JSON (${(error as Error).message})`)
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw fail('header is not a JSON object')
  const data = file.subarray(8 + headerLength)
  const tensors = new Map<string, Tensor>()
  let metadata: Record<string, string> = {}
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null) throw fail('__metadata__ is not an object')
      metadata = entry as Record<string, string>
      continue
    }
    const checked = checkEntry(entry)
    if (typeof checked === 'string') throw fail(`tensor ${name} ${checked}`)
    const { type, shape, begin, end } = checked
    if (end > data.length || begin > end) throw fail(`tensor ${name} lies outside the data`)
    const numel = shape.reduce((a, b) => a * b, 1)
    if (end - begin !== numel * DTYPE_BYTES[type])
      throw fail(`tensor ${name} has ${end - begin} bytes for shape [${shape.join(', ')}]`)
    tensors.set(name, fromBytes(data.subarray(begin, end), type, shape))
  }
  return { tensors, metadata }
}

/**
 * Writes tensors (any device, any layout) to a .safetensors file, one tensor's bytes in memory at
 * a time: a checkpoint (optimizer state is twice the model) never needs a second copy of itself.
 */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const header: Record<string, unknown> = {}
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata
  let offset = 0
  for (const [name, tensor] of tensors) {
    const length = tensor.numel * DTYPE_BYTES[tensor.dtype]
    header[name] = {
      dtype: FROM_DTYPE[tensor.dtype],
      shape: tensor.shape,
      data_offsets: [offset, offset + length],
    }
    offset += length
  }
  // The header is padded with spaces to a multiple of 8 bytes, so the data starts aligned.
  let json = JSON.stringify(header)
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8)
  const head = Buffer.alloc(8)
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)))
  // A generator: writeFile takes each tensor's bytes only when the one before is written.
  function* chunks(): Generator<Uint8Array> {
    yield Buffer.concat([head, Buffer.from(json)])
    for (const tensor of tensors.values()) yield tensor.bytes()
  }
  await writeFile(path, chunks())
}
