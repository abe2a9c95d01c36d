/**
 * Creating tensors: from JavaScript arrays and typed arrays, constants, ranges and random draws.
 * Defaults follow PyTorch: float32 on the CPU, int64 for integer ranges and permutations.
 * @module
 */
import { ValidationError } from '../errors.js'
import { checkShape } from './check.js'
import { checkDevice, type Device } from './device.js'
import { checkDtype, DTYPE_BYTES, dtypeOfArray, type Dtype } from './dtype.js'
import { native } from './native.js'
import type { Generator } from './generator.js'
import { handles, kHandle, Tensor } from './tensor.js'

/** Options of the tensor factories: element type, device and whether autograd tracks the result. */
export interface TensorOptions {
  /** Element type; the default depends on the factory (float32 for most). */
  dtype?: Dtype
  /** Where to create the tensor; 'cpu' by default. */
  device?: Device
  /** Marks the result as requiring gradients, as requiresGrad_() does. */
  requiresGrad?: boolean
}

/** Options of the random factories: a Generator draws from its own seeded stream. */
export interface RandomOptions extends TensorOptions {
  /** Draws from this Generator's own stream instead of the global one (see manualSeed). */
  generator?: Generator
}

function resolve(options: TensorOptions, dtype: Dtype): { dtype: Dtype; device: Device } {
  return {
    dtype: checkDtype(options.dtype ?? dtype),
    device: checkDevice(options.device ?? 'cpu'),
  }
}

function finish(tensor: Tensor, options: TensorOptions): Tensor {
  return options.requiresGrad === true ? tensor.requiresGrad_() : tensor
}

/** Values of a tensor as nested arrays, one level per dimension, as torch.tensor takes them. */
export type Nested = number | boolean | Nested[]

function flattenNested(value: Nested, shape: number[], depth: number, out: number[]): void {
  if (!Array.isArray(value)) {
    if (depth !== shape.length)
      throw new ValidationError('Ragged nested array: sub-arrays differ in depth')
    out.push(Number(value))
    return
  }
  if (depth === shape.length) shape.push(value.length)
  else if (shape[depth] !== value.length) {
    throw new ValidationError(
      `Ragged nested array: expected ${shape[depth]} items at depth ${depth}, got ${value.length}`,
    )
  }
  for (const item of value) flattenNested(item, shape, depth + 1, out)
}

/**
 * A tensor holding a copy of `data`: a typed array (give `shape`, default 1-D) or nested arrays.
 * @example
 * const x = tensor([[1, 2], [3, 4]])                       // float32 2x2
 * const y = tensor(new Uint8Array(buf), { shape: [64, 96, 96, 3] })
 */
export function tensor(
  data: Nested | ArrayBufferView,
  options: TensorOptions & { shape?: number[] } = {},
): Tensor {
  let array: ArrayBufferView
  let shape: number[]
  if (ArrayBuffer.isView(data)) {
    array = data
    const length = (data as unknown as { length: number }).length
    shape = options.shape === undefined ? [length] : checkShape(options.shape)
    const count = shape.reduce((a, b) => a * b, 1)
    if (count !== length) {
      throw new ValidationError(
        `Shape [${shape}] holds ${count} elements but the array has ${length}`,
      )
    }
  } else {
    shape = []
    const values: number[] = []
    flattenNested(data, shape, 0, values)
    if (options.shape !== undefined)
      throw new ValidationError('shape is taken from nested arrays; omit it')
    array = new Float64Array(values)
  }
  const source = dtypeOfArray(array)
  const defaultDtype = ArrayBuffer.isView(data) ? source : 'float32'
  const { dtype, device } = resolve(options, defaultDtype)
  return finish(new Tensor(native.fromBuffer(array, source, shape, dtype, device)), options)
}

/** A tensor from raw little-endian bytes of the given dtype (e.g. float16 weights from a file). */
export function fromBytes(bytes: Uint8Array, dtype: Dtype, shape: number[]): Tensor {
  const checked = checkDtype(dtype)
  const elements = checkShape(shape).reduce((a, b) => a * b, 1)
  const size = DTYPE_BYTES[checked]
  if (elements * size !== bytes.byteLength) {
    throw new ValidationError(
      `${bytes.byteLength} bytes cannot hold [${shape}] ${dtype} (${elements * size} bytes)`,
    )
  }
  return new Tensor(native.fromBuffer(bytes, checked, shape, checked, 'cpu'))
}

/** A tensor of `shape` filled with `value` (float32, or bool for a boolean), as torch.full. */
export function full(
  shape: number[],
  value: number | boolean,
  options: TensorOptions = {},
): Tensor {
  const { dtype, device } = resolve(options, typeof value === 'boolean' ? 'bool' : 'float32')
  return finish(new Tensor(native.full(checkShape(shape), value, dtype, device)), options)
}
/** A tensor of zeros, float32 unless options say otherwise, as torch.zeros. */
export function zeros(shape: number[], options: TensorOptions = {}): Tensor {
  return full(shape, 0, options)
}
/** A tensor of ones, float32 unless options say otherwise, as torch.ones. */
export function ones(shape: number[], options: TensorOptions = {}): Tensor {
  return full(shape, 1, options)
}
/** Uninitialised memory: only for tensors that are written in full before being read. */
export function empty(shape: number[], options: TensorOptions = {}): Tensor {
  const { dtype, device } = resolve(options, 'float32')
  return finish(new Tensor(native.empty(checkShape(shape), dtype, device)), options)
}
/**
 * A tensor like `like` (shape, dtype, device, and memory format: a channels-last tensor gives a
 * channels-last one, as torch.full_like) filled with `value`.
 */
export function fullLike(like: Tensor, value: number, options: TensorOptions = {}): Tensor {
  const { dtype, device } = resolve(
    { dtype: like.dtype, device: like.device, ...options },
    like.dtype,
  )
  return finish(new Tensor(native.fullLike(like[kHandle], value, dtype, device)), options)
}
/**
 * Zeros with the shape, dtype, device and memory format of `like` (options override dtype and
 * device), as torch.zeros_like.
 */
export function zerosLike(like: Tensor, options: TensorOptions = {}): Tensor {
  return fullLike(like, 0, options)
}
/**
 * Ones with the shape, dtype, device and memory format of `like` (options override dtype and
 * device), as torch.ones_like.
 */
export function onesLike(like: Tensor, options: TensorOptions = {}): Tensor {
  return fullLike(like, 1, options)
}

/** Uniform samples in [0, 1), from libtorch's generator (see manualSeed). */
export function rand(shape: number[], options: RandomOptions = {}): Tensor {
  const { dtype, device } = resolve(options, 'float32')
  return finish(
    new Tensor(native.rand(checkShape(shape), dtype, device, options.generator?.handle)),
    options,
  )
}
/** Standard normal samples. */
export function randn(shape: number[], options: RandomOptions = {}): Tensor {
  const { dtype, device } = resolve(options, 'float32')
  return finish(
    new Tensor(native.randn(checkShape(shape), dtype, device, options.generator?.handle)),
    options,
  )
}
/** Integers drawn uniformly from [low, high). */
export function randint(
  low: number,
  high: number,
  shape: number[],
  options: RandomOptions = {},
): Tensor {
  const { dtype, device } = resolve(options, 'int64')
  return new Tensor(
    native.randint(low, high, checkShape(shape), dtype, device, options.generator?.handle),
  )
}
/** A random permutation of 0..n-1. */
export function randperm(n: number, options: RandomOptions = {}): Tensor {
  const { dtype, device } = resolve(options, 'int64')
  return new Tensor(native.randperm(n, dtype, device, options.generator?.handle))
}
/** start, start+step, ... below end; int64 when all arguments are integers, as in PyTorch. */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  const [from, to] = end === undefined ? [0, start] : [start, end]
  const integral = [from, to, step].every(Number.isInteger)
  const { dtype, device } = resolve(options, integral ? 'int64' : 'float32')
  return new Tensor(native.arange(from, to, step, dtype, device))
}

/** Joins tensors along an existing dimension. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(native.cat(handles(tensors), dim))
}
/** Joins tensors along a new dimension. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(native.stack(handles(tensors), dim))
}
/** Elementwise choice: a where condition is true, else b. */
export function where(condition: Tensor, a: Tensor, b: Tensor): Tensor {
  return new Tensor(native.where(condition[kHandle], a[kHandle], b[kHandle]))
}
