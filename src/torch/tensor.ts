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

/**
 * Memory layout: row-major ('contiguous'), NHWC strides ('channelsLast'), or the source's own
 * ('preserve', for clone only), as torch.memory_format.
 */
export type MemoryFormat = 'contiguous' | 'channelsLast' | 'preserve'
/** The other side of an elementwise operation: a tensor (broadcast) or a scalar. */
export type Operand = Tensor | number | boolean

function operand(value: Operand): NativeHandle | number | boolean {
  return value instanceof Tensor ? value[kHandle] : value
}

/**
 * One libtorch tensor owned by a JavaScript object. Free it with dispose(), `using` or scope(); a
 * tensor that no scope holds is otherwise freed by the garbage collector.
 */
export class Tensor {
  /** The native handle; only src/torch reads it. @internal */
  readonly [kHandle]: NativeHandle
  #disposed = false

  /**
   * Wraps a native handle, or makes a new tensor object sharing another tensor's data (detached
   * from its graph, as Parameter does). Registers the tensor with the innermost open scope.
   * Tensors come from the factories (tensor, zeros, randn, ...) and operations, not from here.
   * @internal
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

  /** Size of each dimension ([] for a scalar), as a new array on every read. */
  get shape(): number[] {
    return native.shape(this[kHandle])
  }
  /** Element type. */
  get dtype(): Dtype {
    return native.dtype(this[kHandle]) as Dtype
  }
  /** Where the data lives: 'cpu' or 'cuda:N' (always with the index). */
  get device(): Device {
    return native.device(this[kHandle]) as Device
  }
  /** Number of dimensions (0 for a scalar). */
  get ndim(): number {
    return this.shape.length
  }
  /** Number of elements: the product of the shape. */
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
  /** Whether dispose() has been called on this object. */
  get isDisposed(): boolean {
    return this.#disposed
  }

  /** Releases the native memory now (the storage itself lives on while views of it remain). */
  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    native.dispose(this[kHandle])
  }
  /** Disposes the tensor at the end of a `using` block; the same as dispose(). */
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
  /** A one-line summary of shape, dtype and device (not the values). */
  toString(): string {
    return `Tensor(shape=[${this.shape}], dtype=${this.dtype}, device=${this.device})`
  }

  // ---- conversion -------------------------------------------------------------------------
  /**
   * A tensor with another dtype and/or device; returns a copy even when nothing changes. With
   * nonBlocking, a copy from pinned memory (pinMemory) to a GPU returns before it completes; work
   * queued after it on the GPU waits for it, as torch.Tensor.to(non_blocking=True).
   */
  to(
    target: Dtype | Device | { dtype?: Dtype; device?: Device },
    options: { nonBlocking?: boolean } = {},
  ): Tensor {
    let dtype = this.dtype
    let device = this.device
    if (typeof target === 'string') {
      if (target === 'cpu' || target.startsWith('cuda')) device = checkDevice(target)
      else dtype = checkDtype(target)
    } else {
      if (target.dtype !== undefined) dtype = checkDtype(target.dtype)
      if (target.device !== undefined) device = checkDevice(target.device)
    }
    return new Tensor(native.to(this[kHandle], dtype, device, true, options.nonBlocking === true))
  }
  /**
   * A copy in page-locked host memory, which a GPU copies from asynchronously (to with
   * nonBlocking), as torch.Tensor.pin_memory. Needs a CUDA libtorch.
   */
  pinMemory(): Tensor {
    return new Tensor(native.pinMemory(this[kHandle]))
  }
  /** Whether the data is in page-locked host memory, as torch.Tensor.is_pinned. */
  get isPinned(): boolean {
    return native.isPinned(this[kHandle])
  }
  /** A float32 copy (copies even when already float32), as torch.Tensor.float. */
  float(): Tensor {
    return this.to('float32')
  }
  /** An int64 copy (copies even when already int64), as torch.Tensor.long. */
  long(): Tensor {
    return this.to('int64')
  }
  /**
   * A copy of the data that gradients flow back through, in this tensor's own layout unless
   * memoryFormat says otherwise, as torch.Tensor.clone.
   */
  clone(memoryFormat: MemoryFormat = 'preserve'): Tensor {
    return new Tensor(native.clone(this[kHandle], memoryFormat))
  }
  /**
   * This tensor in the given memory layout: a new handle on the same data if it already is, else a
   * copy. As torch.Tensor.contiguous.
   */
  contiguous(memoryFormat: MemoryFormat = 'contiguous'): Tensor {
    return new Tensor(native.contiguous(this[kHandle], memoryFormat))
  }
  /**
   * Whether the data is laid out densely in the given memory format, as torch.Tensor.is_contiguous.
   */
  isContiguous(memoryFormat: MemoryFormat = 'contiguous'): boolean {
    return native.isContiguous(this[kHandle], memoryFormat)
  }

  // ---- autograd ---------------------------------------------------------------------------
  /** Whether autograd records operations on this tensor (set it with requiresGrad_). */
  get requiresGrad(): boolean {
    return native.requiresGrad(this[kHandle])
  }
  /** Starts (or stops) recording operations on this tensor for backward(); returns this. */
  requiresGrad_(requiresGrad = true): this {
    native.setRequiresGrad(this[kHandle], requiresGrad)
    return this
  }
  /**
   * Whether this tensor is a leaf of the autograd graph (not the result of a recorded operation),
   * as torch.Tensor.is_leaf; only leaves keep their grad after backward() by default.
   */
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
  /**
   * Sets the gradient to `value`'s data (shared, not copied; the caller still disposes `value`), or
   * drops it with null.
   */
  set grad(value: Tensor | null) {
    native.setGrad(this[kHandle], value === null ? null : value[kHandle])
  }
  /** Keeps this non-leaf tensor's gradient after backward(), as torch.Tensor.retain_grad. */
  retainGrad(): void {
    native.retainGrad(this[kHandle])
  }
  /** Computes gradients of this tensor (a scalar unless `gradient` is given) into the leaves. */
  backward(gradient?: Tensor, options: { retainGraph?: boolean } = {}): void {
    native.backward(this[kHandle], gradient?.[kHandle] ?? null, options.retainGraph ?? false)
  }
  /** A tensor sharing this one's data but outside the autograd graph, as torch.Tensor.detach. */
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
  /** Elementwise sum with a tensor (broadcast) or a number, as torch.add. */
  add(other: Operand): Tensor {
    return this.#binary('add', other)
  }
  /** Elementwise this - other (a tensor, broadcast, or a number), as torch.sub. */
  sub(other: Operand): Tensor {
    return this.#binary('sub', other)
  }
  /** Elementwise product with a tensor (broadcast) or a number, as torch.mul. */
  mul(other: Operand): Tensor {
    return this.#binary('mul', other)
  }
  /** Elementwise true division (integers give a floating result), as torch.div. */
  div(other: Operand): Tensor {
    return this.#binary('div', other)
  }
  /** Each element raised to `exponent` (a tensor, broadcast, or a number), as torch.pow. */
  pow(exponent: Operand): Tensor {
    return this.#binary('pow', exponent)
  }
  /** Elementwise remainder with the sign of the divisor (Python's %), as torch.remainder. */
  remainder(other: Operand): Tensor {
    return this.#binary('remainder', other)
  }
  /** Elementwise larger of this and other, as torch.maximum; a number acts as a lower bound. */
  maximum(other: Operand): Tensor {
    return this.#binary('maximum', other)
  }
  /** Elementwise smaller of this and other, as torch.minimum; a number acts as an upper bound. */
  minimum(other: Operand): Tensor {
    return this.#binary('minimum', other)
  }
  /** Elementwise this == other, as a bool tensor (torch.eq). */
  eq(other: Operand): Tensor {
    return this.#binary('eq', other)
  }
  /** Elementwise this != other, as a bool tensor (torch.ne). */
  ne(other: Operand): Tensor {
    return this.#binary('ne', other)
  }
  /** Elementwise this < other, as a bool tensor (torch.lt). */
  lt(other: Operand): Tensor {
    return this.#binary('lt', other)
  }
  /** Elementwise this <= other, as a bool tensor (torch.le). */
  le(other: Operand): Tensor {
    return this.#binary('le', other)
  }
  /** Elementwise this > other, as a bool tensor (torch.gt). */
  gt(other: Operand): Tensor {
    return this.#binary('gt', other)
  }
  /** Elementwise this >= other, as a bool tensor (torch.ge). */
  ge(other: Operand): Tensor {
    return this.#binary('ge', other)
  }
  /**
   * Elementwise AND of two tensors (nonzero counts as true), as a bool tensor (torch.logical_and).
   */
  logicalAnd(other: Tensor): Tensor {
    return this.#binary('logicalAnd', other)
  }
  /**
   * Elementwise OR of two tensors (nonzero counts as true), as a bool tensor (torch.logical_or).
   */
  logicalOr(other: Tensor): Tensor {
    return this.#binary('logicalOr', other)
  }
  /** Elementwise -x. */
  neg(): Tensor {
    return this.#unary('neg')
  }
  /** Elementwise absolute value. */
  abs(): Tensor {
    return this.#unary('abs')
  }
  /** Elementwise e to the power x. */
  exp(): Tensor {
    return this.#unary('exp')
  }
  /** Elementwise natural logarithm. */
  log(): Tensor {
    return this.#unary('log')
  }
  /** Elementwise log(1 + x), accurate for small x. */
  log1p(): Tensor {
    return this.#unary('log1p')
  }
  /** Elementwise square root. */
  sqrt(): Tensor {
    return this.#unary('sqrt')
  }
  /** Elementwise 1 / sqrt(x). */
  rsqrt(): Tensor {
    return this.#unary('rsqrt')
  }
  /** Elementwise x * x. */
  square(): Tensor {
    return this.#unary('square')
  }
  /** Elementwise 1 / x. */
  reciprocal(): Tensor {
    return this.#unary('reciprocal')
  }
  /** Elementwise sign: -1, 0 or 1. */
  sign(): Tensor {
    return this.#unary('sign')
  }
  /** Rounds each element down to an integer value. */
  floor(): Tensor {
    return this.#unary('floor')
  }
  /** Rounds each element up to an integer value. */
  ceil(): Tensor {
    return this.#unary('ceil')
  }
  /** Rounds each element to the nearest integer value, halves to even, as torch.round. */
  round(): Tensor {
    return this.#unary('round')
  }
  /** Elementwise 1 / (1 + exp(-x)). */
  sigmoid(): Tensor {
    return this.#unary('sigmoid')
  }
  /** Elementwise hyperbolic tangent. */
  tanh(): Tensor {
    return this.#unary('tanh')
  }
  /** Elementwise max(x, 0). */
  relu(): Tensor {
    return this.#unary('relu')
  }
  /** A bool tensor, true where an element is NaN. */
  isnan(): Tensor {
    return this.#unary('isnan')
  }
  /** A bool tensor, true where an element is neither infinite nor NaN. */
  isfinite(): Tensor {
    return this.#unary('isfinite')
  }
  /** A bool tensor, true where an element is zero (or false), as torch.logical_not. */
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
  /**
   * Sum over `dims`, or of every element when omitted (keepdim then has no effect), as torch.sum.
   */
  sum(dims?: number | number[], keepdim = false): Tensor {
    return this.#reduce('sum', dims, keepdim)
  }
  /**
   * Mean over `dims`, or of every element when omitted (keepdim then has no effect); floating
   * dtypes only. As torch.mean.
   */
  mean(dims?: number | number[], keepdim = false): Tensor {
    return this.#reduce('mean', dims, keepdim)
  }
  /** Largest value over `dims` (all when omitted), like torch.amax. */
  max(dims?: number | number[], keepdim = false): Tensor {
    return this.#reduce('amax', dims, keepdim)
  }
  /** Smallest value over `dims` (all when omitted), like torch.amin. */
  min(dims?: number | number[], keepdim = false): Tensor {
    return this.#reduce('amin', dims, keepdim)
  }
  /** log(sum(exp(x))) over `dims`, computed stably, as torch.logsumexp. */
  logsumexp(dims: number | number[], keepdim = false): Tensor {
    return this.#reduce('logsumexp', dims, keepdim)
  }
  /** Variance with Bessel's correction by default (correction 1), as torch.var. */
  var(dims?: number | number[], options: { correction?: number; keepdim?: boolean } = {}): Tensor {
    const list = dims === undefined ? null : typeof dims === 'number' ? [dims] : dims
    const { correction = 1, keepdim = false } = options
    return new Tensor(native.variance(this[kHandle], list, correction, keepdim, false))
  }
  /** Standard deviation with Bessel's correction by default (correction 1), as torch.std. */
  std(dims?: number | number[], options: { correction?: number; keepdim?: boolean } = {}): Tensor {
    const list = dims === undefined ? null : typeof dims === 'number' ? [dims] : dims
    const { correction = 1, keepdim = false } = options
    return new Tensor(native.variance(this[kHandle], list, correction, keepdim, true))
  }
  /**
   * Index (int64) of the largest value along `dim`, or in the flattened tensor when dim is omitted,
   * as torch.argmax.
   */
  argmax(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.argReduce('argmax', this[kHandle], dim ?? null, keepdim))
  }
  /**
   * Index (int64) of the smallest value along `dim`, or in the flattened tensor when dim is
   * omitted, as torch.argmin.
   */
  argmin(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.argReduce('argmin', this[kHandle], dim ?? null, keepdim))
  }
  /**
   * The k largest (or, with largest false, smallest) values along `dim`, in sorted order, and their
   * indices, as torch.topk. The caller disposes both.
   */
  topk(
    k: number,
    dim = -1,
    largest = true,
  ): {
    /** The selected values, in sorted order. */
    values: Tensor
    /** Their positions along `dim` (int64). */
    indices: Tensor
  } {
    const [values, indices] = native.topk(this[kHandle], k, dim, largest, true)
    return { values: new Tensor(values), indices: new Tensor(indices) }
  }
  /** Sorts along `dim` (ascending unless `descending`), as torch.sort; the caller disposes both. */
  sort(
    dim = -1,
    descending = false,
  ): {
    /** The sorted values. */
    values: Tensor
    /** Where each sorted value was along `dim` (int64). */
    indices: Tensor
  } {
    const [values, indices] = native.sort(this[kHandle], dim, descending)
    return { values: new Tensor(values), indices: new Tensor(indices) }
  }

  // ---- views and indexing -----------------------------------------------------------------
  /** Same elements in a new shape; one dimension may be -1. A view when the layout allows. */
  reshape(...shape: number[]): Tensor {
    return new Tensor(native.reshape(this[kHandle], shape))
  }
  /** A view with the dimensions in the order `dims`, as torch.Tensor.permute. */
  permute(...dims: number[]): Tensor {
    return new Tensor(native.permute(this[kHandle], dims))
  }
  /** A view with dimensions dim0 and dim1 swapped, as torch.transpose. */
  transpose(dim0: number, dim1: number): Tensor {
    return new Tensor(native.transpose(this[kHandle], dim0, dim1))
  }
  /**
   * A view that broadcasts size-1 dimensions to `shape` without copying (-1 keeps a size), as
   * torch.Tensor.expand.
   */
  expand(...shape: number[]): Tensor {
    return new Tensor(native.expand(this[kHandle], shape))
  }
  /** A copy tiled repeats[i] times along dimension i, as torch.Tensor.repeat. */
  repeat(...repeats: number[]): Tensor {
    return new Tensor(native.repeat(this[kHandle], repeats))
  }
  /**
   * A view without dimension `dim` if its size is 1, or without every size-1 dimension when dim is
   * omitted.
   */
  squeeze(dim?: number): Tensor {
    return new Tensor(native.squeeze(this[kHandle], dim ?? null))
  }
  /** A view with a new size-1 dimension inserted at `dim`. */
  unsqueeze(dim: number): Tensor {
    return new Tensor(native.unsqueeze(this[kHandle], dim))
  }
  /**
   * Merges dimensions startDim to endDim (inclusive) into one, as torch.flatten; a view when the
   * layout allows.
   */
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
  /** A copy of the entries at `index` (a 1-D integer tensor) along dim, as torch.index_select. */
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(native.indexSelect(this[kHandle], dim, index[kHandle]))
  }
  /** Values along dim at the positions in `index` (int64, same ndim as this), as torch.gather. */
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(native.gather(this[kHandle], dim, index[kHandle]))
  }
  /** A copy with the order of elements reversed along each of `dims`, as torch.flip. */
  flip(...dims: number[]): Tensor {
    return new Tensor(native.flip(this[kHandle], dims))
  }
  /** Rotates by k quarter turns in the plane of `dims`, from the first towards the second axis. */
  rot90(k = 1, dims: [number, number] = [0, 1]): Tensor {
    return new Tensor(native.rot90(this[kHandle], k, dims))
  }
  /** Matrix product, broadcasting over batch dimensions, as torch.matmul. */
  matmul(other: Tensor): Tensor {
    return new Tensor(native.matmul(this[kHandle], other[kHandle]))
  }

  // ---- in place ---------------------------------------------------------------------------
  /** Copies `source` into this tensor (broadcast, converting dtype and device); returns this. */
  copy_(source: Tensor): this {
    native.copy_(this[kHandle], source[kHandle])
    return this
  }
  /** Sets every element to `value` in place; returns this. */
  fill_(value: number | boolean): this {
    native.fill_(this[kHandle], value)
    return this
  }
  /** Sets every element to zero in place; returns this. */
  zero_(): this {
    return this.fill_(0)
  }
  /** Fills in place with uniform samples from [low, high) (global generator); returns this. */
  uniform_(low = 0, high = 1): this {
    native.uniform_(this[kHandle], low, high)
    return this
  }
  /**
   * Fills in place with normal samples of the given mean and std (global generator); returns this.
   */
  normal_(mean = 0, std = 1): this {
    native.normal_(this[kHandle], mean, std)
    return this
  }
  /** this += alpha * other */
  add_(other: Operand, alpha = 1): this {
    native.inplace('add', this[kHandle], operand(other), alpha)
    return this
  }
  /** Multiplies in place by a tensor (broadcast) or a number; returns this. */
  mul_(other: Operand): this {
    native.inplace('mul', this[kHandle], operand(other))
    return this
  }
  /** Divides in place by a tensor (broadcast) or a number; returns this. */
  div_(other: Operand): this {
    native.inplace('div', this[kHandle], operand(other))
    return this
  }
}

/** The native handles of a list of tensors, for functions that take many. */
export function handles(tensors: readonly Tensor[]): NativeHandle[] {
  return tensors.map((t) => t[kHandle])
}
