/**
 * Tensor: a TypeScript object owning one libtorch tensor. Methods mirror torch.Tensor's names
 * (camelCase). Results are new tensors; methods ending in `_` change the tensor in place.
 * @module
 */
import { ValidationError } from '../errors.js'
import { checkDevice, type Device } from './device.js'
import { arrayOfBuffer, checkDtype, type Dtype, type TypedArray } from './dtype.js'
import { native, type NativeHandle } from './native.js'
import { track } from './scope.js'

/** Where Tensor keeps its native handle; only src/torch uses it. */
export const kHandle = Symbol('pcam.tensor.handle')

export type MemoryFormat = 'contiguous' | 'channelsLast' | 'preserve'
type Operand = Tensor | number | boolean

function operand(value: Operand): NativeHandle | number | boolean {
  return value instanceof Tensor ? value[kHandle] : value
}

export class Tensor {
  readonly [kHandle]: NativeHandle
  #disposed = false

  /**
   * Wraps a native handle, or makes a new tensor object sharing another tensor's data (detached
   * from its graph, as Parameter does). Registers the tensor with the innermost open scope.
   */
  constructor(source: NativeHandle | Tensor) {
    this[kHandle] = source instanceof Tensor ? native.detach(source[kHandle]) : source
    track(this)
  }

  /**
   * Only the garbage collector may free this tensor if nobody disposes it, so V8 is told of its
   * native memory. Tensors inside a scope are not reported: they are freed when it ends, and
   * reporting every activation made V8 run a full collection on every training batch.
   */
  unscoped(): void {
    native.reportExternalMemory(this[kHandle])
  }

  get shape(): number[] {
    return native.shape(this[kHandle])
  }
  get dtype(): Dtype {
    return native.dtype(this[kHandle]) as Dtype
  }
  get device(): Device {
    return native.device(this[kHandle]) as Device
  }
  get ndim(): number {
    return this.shape.length
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1)
  }
  /** Size of one dimension; negative counts from the end. */
  size(dim: number): number {
    const shape = this.shape
    const size = shape[dim < 0 ? shape.length + dim : dim]
    if (size === undefined)
      throw new ValidationError(`Dimension ${dim} out of range for shape [${shape}]`)
    return size
  }
  get isDisposed(): boolean {
    return this.#disposed
  }

  /** Releases the native memory now (the storage itself lives on while views of it remain). */
  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    native.dispose(this[kHandle])
  }
  [Symbol.dispose](): void {
    this.dispose()
  }

  // ---- data -------------------------------------------------------------------------------
  /** A copy of the elements in row-major order (float16/bfloat16 as float32, bool as uint8). */
  data(): TypedArray {
    return arrayOfBuffer(native.toBuffer(this[kHandle]), this.dtype)
  }
  /** The stored bytes, row-major, in the tensor's own dtype (float16 stays 2 bytes an element). */
  bytes(): Uint8Array {
    return new Uint8Array(native.toBuffer(this[kHandle], true))
  }
  /** The elements as plain numbers (int64 converted), row-major. */
  toArray(): number[] {
    return Array.from(this.data(), Number)
  }
  /** The value of a one-element tensor. */
  item(): number {
    return Number(native.item(this[kHandle]))
  }
  toString(): string {
    return `Tensor(shape=[${this.shape}], dtype=${this.dtype}, device=${this.device})`
  }

  // ---- conversion -------------------------------------------------------------------------
  /** A tensor with another dtype and/or device; returns a copy even when nothing changes. */
  to(target: Dtype | Device | { dtype?: Dtype; device?: Device }): Tensor {
    let dtype = this.dtype
    let device = this.device
    if (typeof target === 'string') {
      if (target === 'cpu' || target.startsWith('cuda')) device = checkDevice(target)
      else dtype = checkDtype(target)
    } else {
      if (target.dtype !== undefined) dtype = checkDtype(target.dtype)
      if (target.device !== undefined) device = checkDevice(target.device)
    }
    return new Tensor(native.to(this[kHandle], dtype, device, true))
  }
  float(): Tensor {
    return this.to('float32')
  }
  long(): Tensor {
    return this.to('int64')
  }
  clone(memoryFormat: MemoryFormat = 'preserve'): Tensor {
    return new Tensor(native.clone(this[kHandle], memoryFormat))
  }
  contiguous(memoryFormat: MemoryFormat = 'contiguous'): Tensor {
    return new Tensor(native.contiguous(this[kHandle], memoryFormat))
  }
  isContiguous(memoryFormat: MemoryFormat = 'contiguous'): boolean {
    return native.isContiguous(this[kHandle], memoryFormat)
  }

  // ---- autograd ---------------------------------------------------------------------------
  get requiresGrad(): boolean {
    return native.requiresGrad(this[kHandle])
  }
  /** Starts (or stops) recording operations on this tensor for backward(); returns this. */
  requiresGrad_(requiresGrad = true): this {
    native.setRequiresGrad(this[kHandle], requiresGrad)
    return this
  }
  get isLeaf(): boolean {
    return native.isLeaf(this[kHandle])
  }
  /** The accumulated gradient as a new tensor handle (dispose it when done), or null. */
  get grad(): Tensor | null {
    const handle = native.grad(this[kHandle])
    return handle === null ? null : new Tensor(handle)
  }
  /** Whether a gradient has been accumulated, without creating a handle for it. */
  get hasGrad(): boolean {
    return native.hasGrad(this[kHandle])
  }
  set grad(value: Tensor | null) {
    native.setGrad(this[kHandle], value === null ? null : value[kHandle])
  }
  retainGrad(): void {
    native.retainGrad(this[kHandle])
  }
  /** Computes gradients of this tensor (a scalar unless `gradient` is given) into the leaves. */
  backward(gradient?: Tensor, options: { retainGraph?: boolean } = {}): void {
    native.backward(this[kHandle], gradient?.[kHandle] ?? null, options.retainGraph ?? false)
  }
  detach(): Tensor {
    return new Tensor(native.detach(this[kHandle]))
  }
  /**
   * Replaces this tensor's data with `source`'s (shape, dtype and device may change) while it
   * stays the same object: how modules move parameters without breaking optimizer references.
   */
  setData_(source: Tensor): this {
    native.setData(this[kHandle], source[kHandle])
    return this
  }

  // ---- elementwise ------------------------------------------------------------------------
  #unary(op: string): Tensor {
    return new Tensor(native.unary(op, this[kHandle]))
  }
  #binary(op: string, other: Operand): Tensor {
    return new Tensor(native.binary(op, this[kHandle], operand(other)))
  }
  add(other: Operand): Tensor {
    return this.#binary('add', other)
  }
  sub(other: Operand): Tensor {
    return this.#binary('sub', other)
  }
  mul(other: Operand): Tensor {
    return this.#binary('mul', other)
  }
  div(other: Operand): Tensor {
    return this.#binary('div', other)
  }
  pow(exponent: Operand): Tensor {
    return this.#binary('pow', exponent)
  }
  remainder(other: Operand): Tensor {
    return this.#binary('remainder', other)
  }
  maximum(other: Operand): Tensor {
    return this.#binary('maximum', other)
  }
  minimum(other: Operand): Tensor {
    return this.#binary('minimum', other)
  }
  eq(other: Operand): Tensor {
    return this.#binary('eq', other)
  }
  ne(other: Operand): Tensor {
    return this.#binary('ne', other)
  }
  lt(other: Operand): Tensor {
    return this.#binary('lt', other)
  }
  le(other: Operand): Tensor {
    return this.#binary('le', other)
  }
  gt(other: Operand): Tensor {
    return this.#binary('gt', other)
  }
  ge(other: Operand): Tensor {
    return this.#binary('ge', other)
  }
  logicalAnd(other: Tensor): Tensor {
    return this.#binary('logicalAnd', other)
  }
  logicalOr(other: Tensor): Tensor {
    return this.#binary('logicalOr', other)
  }
  neg(): Tensor {
    return this.#unary('neg')
  }
  abs(): Tensor {
    return this.#unary('abs')
  }
  exp(): Tensor {
    return this.#unary('exp')
  }
  log(): Tensor {
    return this.#unary('log')
  }
  log1p(): Tensor {
    return this.#unary('log1p')
  }
  sqrt(): Tensor {
    return this.#unary('sqrt')
  }
  rsqrt(): Tensor {
    return this.#unary('rsqrt')
  }
  square(): Tensor {
    return this.#unary('square')
  }
  reciprocal(): Tensor {
    return this.#unary('reciprocal')
  }
  sign(): Tensor {
    return this.#unary('sign')
  }
  floor(): Tensor {
    return this.#unary('floor')
  }
  ceil(): Tensor {
    return this.#unary('ceil')
  }
  round(): Tensor {
    return this.#unary('round')
  }
  sigmoid(): Tensor {
    return this.#unary('sigmoid')
  }
  tanh(): Tensor {
    return this.#unary('tanh')
  }
  relu(): Tensor {
    return this.#unary('relu')
  }
  isnan(): Tensor {
    return this.#unary('isnan')
  }
  isfinite(): Tensor {
    return this.#unary('isfinite')
  }
  logicalNot(): Tensor {
    return this.#unary('logicalNot')
  }
  /** Limits values to [min, max]; either bound may be null. */
  clamp(min: number | null, max: number | null = null): Tensor {
    return new Tensor(native.clamp(this[kHandle], min, max))
  }

  // ---- reductions -------------------------------------------------------------------------
  #reduce(op: string, dims: number | number[] | undefined, keepdim: boolean): Tensor {
    const list = dims === undefined ? null : typeof dims === 'number' ? [dims] : dims
    return new Tensor(native.reduce(op, this[kHandle], list, keepdim))
  }
  sum(dims?: number | number[], keepdim = false): Tensor {
    return this.#reduce('sum', dims, keepdim)
  }
  mean(dims?: number | number[], keepdim = false): Tensor {
    return this.#reduce('mean', dims, keepdim)
  }
  /** Largest value over `dims` (all when omitted), like torch.amax. */
  max(dims?: number | number[], keepdim = false): Tensor {
    return this.#reduce('amax', dims, keepdim)
  }
  min(dims?: number | number[], keepdim = false): Tensor {
    return this.#reduce('amin', dims, keepdim)
  }
  logsumexp(dims: number | number[], keepdim = false): Tensor {
    return this.#reduce('logsumexp', dims, keepdim)
  }
  /** Variance with Bessel's correction by default (correction 1), as torch.var. */
  var(dims?: number | number[], options: { correction?: number; keepdim?: boolean } = {}): Tensor {
    const list = dims === undefined ? null : typeof dims === 'number' ? [dims] : dims
    const { correction = 1, keepdim = false } = options
    return new Tensor(native.variance(this[kHandle], list, correction, keepdim, false))
  }
  std(dims?: number | number[], options: { correction?: number; keepdim?: boolean } = {}): Tensor {
    const list = dims === undefined ? null : typeof dims === 'number' ? [dims] : dims
    const { correction = 1, keepdim = false } = options
    return new Tensor(native.variance(this[kHandle], list, correction, keepdim, true))
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.argReduce('argmax', this[kHandle], dim ?? null, keepdim))
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.argReduce('argmin', this[kHandle], dim ?? null, keepdim))
  }
  topk(k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } {
    const [values, indices] = native.topk(this[kHandle], k, dim, largest, true)
    return { values: new Tensor(values), indices: new Tensor(indices) }
  }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = native.sort(this[kHandle], dim, descending)
    return { values: new Tensor(values), indices: new Tensor(indices) }
  }

  // ---- views and indexing -----------------------------------------------------------------
  /** Same elements in a new shape; one dimension may be -1. A view when the layout allows. */
  reshape(...shape: number[]): Tensor {
    return new Tensor(native.reshape(this[kHandle], shape))
  }
  permute(...dims: number[]): Tensor {
    return new Tensor(native.permute(this[kHandle], dims))
  }
  transpose(dim0: number, dim1: number): Tensor {
    return new Tensor(native.transpose(this[kHandle], dim0, dim1))
  }
  expand(...shape: number[]): Tensor {
    return new Tensor(native.expand(this[kHandle], shape))
  }
  repeat(...repeats: number[]): Tensor {
    return new Tensor(native.repeat(this[kHandle], repeats))
  }
  squeeze(dim?: number): Tensor {
    return new Tensor(native.squeeze(this[kHandle], dim ?? null))
  }
  unsqueeze(dim: number): Tensor {
    return new Tensor(native.unsqueeze(this[kHandle], dim))
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return new Tensor(native.flatten(this[kHandle], startDim, endDim))
  }
  /** A view of elements start..end-1 (every step-th) along dim, like x[start:end:step]. */
  slice(dim: number, start: number, end: number = Number.MAX_SAFE_INTEGER, step = 1): Tensor {
    return new Tensor(native.slice(this[kHandle], dim, start, end, step))
  }
  /** The sub-tensor at `index` along dim, with that dimension removed (x[i] for dim 0). */
  select(dim: number, index: number): Tensor {
    return new Tensor(native.select(this[kHandle], dim, index))
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(native.indexSelect(this[kHandle], dim, index[kHandle]))
  }
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(native.gather(this[kHandle], dim, index[kHandle]))
  }
  flip(...dims: number[]): Tensor {
    return new Tensor(native.flip(this[kHandle], dims))
  }
  /** Rotates by k quarter turns in the plane of `dims`, from the first towards the second axis. */
  rot90(k = 1, dims: [number, number] = [0, 1]): Tensor {
    return new Tensor(native.rot90(this[kHandle], k, dims))
  }
  matmul(other: Tensor): Tensor {
    return new Tensor(native.matmul(this[kHandle], other[kHandle]))
  }

  // ---- in place ---------------------------------------------------------------------------
  copy_(source: Tensor): this {
    native.copy_(this[kHandle], source[kHandle])
    return this
  }
  fill_(value: number | boolean): this {
    native.fill_(this[kHandle], value)
    return this
  }
  zero_(): this {
    return this.fill_(0)
  }
  uniform_(low = 0, high = 1): this {
    native.uniform_(this[kHandle], low, high)
    return this
  }
  normal_(mean = 0, std = 1): this {
    native.normal_(this[kHandle], mean, std)
    return this
  }
  /** this += alpha * other */
  add_(other: Operand, alpha = 1): this {
    native.inplace('add', this[kHandle], operand(other), alpha)
    return this
  }
  mul_(other: Operand): this {
    native.inplace('mul', this[kHandle], operand(other))
    return this
  }
  div_(other: Operand): this {
    native.inplace('div', this[kHandle], operand(other))
    return this
  }
}

/** The native handles of a list of tensors, for functions that take many. */
export function handles(tensors: readonly Tensor[]): NativeHandle[] {
  return tensors.map((t) => t[kHandle])
}
