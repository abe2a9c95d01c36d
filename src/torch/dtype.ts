/**
 * Element types of tensors, with the same names on the TypeScript and C++ sides, and the
 * JavaScript typed arrays that hold their data.
 * @module
 */
import { ValidationError } from '../errors.js'

/** The names of every element type pcam supports. */
export const DTYPES = [
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'uint8',
  'int8',
  'int32',
  'int64',
  'bool',
] as const
/** The name of a tensor element type, as PyTorch names it ('float32' is torch.float32). */
export type Dtype = (typeof DTYPES)[number]

/** The typed array a tensor's data comes back in (float16 and bfloat16 widen to float32). */
export type TypedArray =
  Float32Array | Float64Array | Uint8Array | Int8Array | Int32Array | BigInt64Array

/** Bytes one element of each dtype takes. */
export const DTYPE_BYTES: Record<Dtype, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  uint8: 1,
  int8: 1,
  int32: 4,
  int64: 8,
  bool: 1,
}

/** Whether `dtype` is a floating-point type (float16, bfloat16, float32 or float64). */
export function isFloatingDtype(dtype: Dtype): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16'
}

/** Returns `value` if it names a supported dtype; otherwise throws a ValidationError. */
export function checkDtype(value: unknown): Dtype {
  if (typeof value === 'string' && (DTYPES as readonly string[]).includes(value)) {
    return value as Dtype
  }
  throw new ValidationError(
    `Expected one of ${DTYPES.join(', ')} for dtype but received ${String(value)}`,
  )
}

/** The dtype whose elements a typed array holds. */
export function dtypeOfArray(data: ArrayBufferView): Dtype {
  if (data instanceof Float32Array) return 'float32'
  if (data instanceof Float64Array) return 'float64'
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return 'uint8'
  if (data instanceof Int8Array) return 'int8'
  if (data instanceof Int32Array) return 'int32'
  if (data instanceof BigInt64Array) return 'int64'
  throw new ValidationError(
    `Expected a Float32Array, Float64Array, Uint8Array, Int8Array, Int32Array or BigInt64Array ` +
      `but received ${data.constructor.name}`,
  )
}

/** A view of `buffer` as the typed array that toBuffer() returns for `dtype`. */
export function arrayOfBuffer(buffer: ArrayBuffer, dtype: Dtype): TypedArray {
  switch (dtype) {
    case 'float32':
    case 'float16':
    case 'bfloat16':
      return new Float32Array(buffer)
    case 'float64':
      return new Float64Array(buffer)
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer)
    case 'int8':
      return new Int8Array(buffer)
    case 'int32':
      return new Int32Array(buffer)
    case 'int64':
      return new BigInt64Array(buffer)
  }
}
