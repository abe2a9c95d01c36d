/**
 * The only file that loads the native addon (native/build/Release/pcam.node). It types every
 * function the addon exports and turns libtorch's errors into TorchError.
 * @module
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { availableParallelism, totalmem } from 'node:os'
import { join } from 'node:path'
import { ConfigError, TorchError } from '../errors.js'
import { PACKAGE_ROOT } from '../paths.js'

/** An opaque reference to a libtorch tensor; only src/torch looks inside. */
export type NativeHandle = { readonly __nativeTensor: unique symbol }
/** An opaque reference to a libtorch random generator. */
export type GeneratorHandle = { readonly __nativeGenerator: unique symbol }
/** An opaque reference to an open OpenSlide slide. */
export type SlideHandle = { readonly __nativeSlide: unique symbol }
type H = NativeHandle
type Maybe = NativeHandle | null
type Scalar = number | boolean
/** How a loss reduces over the batch: its mean, its sum, or one value per element. */
export type Reduction = 'mean' | 'sum' | 'none'

/** The vector and matrix units of this CPU that the OS lets a program use (CPUID and XCR0). */
export interface CpuFeatures {
  /** AVX2: 256-bit integer and floating-point vectors. */
  avx2: boolean
  /** AVX-512 Foundation: 512-bit vectors. */
  avx512f: boolean
  /** AVX512-BF16: bfloat16 dot products, what makes bfloat16 autocast fast on a CPU. */
  avx512Bf16: boolean
  /** AMX-BF16: bfloat16 matrix tiles. */
  amxBf16: boolean
}

/** One GPU as the CUDA driver describes it; totalMemory in bytes. */
export interface CudaDeviceFacts {
  /** The product name the driver reports. */
  name: string
  /** Major part of the compute capability (8 for an A100, 9 for an H100). */
  major: number
  /** Minor part of the compute capability. */
  minor: number
  /** Total GPU memory in bytes. */
  totalMemory: number
}

/** What the addon exports; each group names the C++ file that implements it. */
export interface NativeBinding {
  // native/src/runtime.cc
  setNumThreads(n: number): void
  getNumThreads(): number
  setNumInteropThreads(n: number): void
  manualSeed(seed: number | bigint): void
  getRngState(device: string): H
  setRngState(device: string, state: H): void
  setGradEnabled(enabled: boolean): void
  isGradEnabled(): boolean
  setAutocast(deviceType: string, enabled: boolean, dtype: string): void
  isAutocastEnabled(deviceType: string): boolean
  setMallocOptions(mmapThreshold: number, trimThreshold: number): boolean
  cudaDeviceCount(): number
  cudaDeviceFacts(index: number): CudaDeviceFacts | null
  cpuFeatures(): CpuFeatures
  setCudnnBenchmark(enabled: boolean): void
  setCurrentDevice(device: string): void
  liveTensors(): number
  setCpuBlockCache(capBytes: number): void
  emptyCpuBlockCache(): void
  cpuBlockCacheStats(): CpuBlockCacheStats
  buildInfo(): {
    /** The libtorch version the addon was compiled against, e.g. "1.13.0". */
    torchVersion: string
    /** Whether the addon was compiled with libstdc++'s C++11 ABI (it must match libtorch's). */
    cxx11Abi: boolean
    /** Whether the addon was built with CUDA support. */
    cuda: boolean
    /** libtorch's multi-line report on its parallel backend (at::get_parallel_info()). */
    parallel: string
  }
  // native/src/tensor.cc
  fromBuffer(
    data: ArrayBufferView,
    srcDtype: string,
    shape: number[],
    dtype: string,
    device: string,
  ): H
  toBuffer(h: H, raw?: boolean): ArrayBuffer
  item(h: H): number | boolean
  full(shape: number[], value: Scalar, dtype: string, device: string): H
  fullLike(like: H, value: Scalar, dtype: string, device: string): H
  empty(shape: number[], dtype: string, device: string): H
  generator(seed: number): GeneratorHandle
  rand(shape: number[], dtype: string, device: string, generator?: GeneratorHandle): H
  randn(shape: number[], dtype: string, device: string, generator?: GeneratorHandle): H
  randint(
    low: number,
    high: number,
    shape: number[],
    dtype: string,
    device: string,
    generator?: GeneratorHandle,
  ): H
  randperm(n: number, dtype: string, device: string, generator?: GeneratorHandle): H
  arange(start: number, end: number, step: number, dtype: string, device: string): H
  dispose(h: H): void
  /** Reports the handle's native memory to V8 (once), for a handle no scope will dispose. */
  reportExternalMemory(h: H): void
  shape(h: H): number[]
  dtype(h: H): string
  device(h: H): string
  isContiguous(h: H, memoryFormat: string): boolean
  to(h: H, dtype: string, device: string, copy: boolean, nonBlocking: boolean): H
  pinMemory(h: H): H
  isPinned(h: H): boolean
  contiguous(h: H, memoryFormat: string): H
  clone(h: H, memoryFormat: string): H
  copy_(dst: H, src: H): void
  fill_(h: H, value: Scalar): void
  uniform_(h: H, low: number, high: number): void
  normal_(h: H, mean: number, std: number): void
  requiresGrad(h: H): boolean
  setRequiresGrad(h: H, requiresGrad: boolean): void
  isLeaf(h: H): boolean
  setData(h: H, source: H): void
  detach(h: H): H
  grad(h: H): Maybe
  hasGrad(h: H): boolean
  setGrad(h: H, grad: Maybe): void
  retainGrad(h: H): void
  backward(h: H, gradient: Maybe, retainGraph: boolean): void
  // native/src/ops.cc
  unary(op: string, x: H): H
  binary(op: string, a: H, b: H | Scalar): H
  inplace(op: string, a: H, b: H | Scalar, alpha?: number): void
  clamp(x: H, min: number | null, max: number | null): H
  where(condition: H, a: H, b: H): H
  reduce(op: string, x: H, dims: number[] | null, keepdim: boolean): H
  variance(x: H, dims: number[] | null, correction: number, keepdim: boolean, sqrt: boolean): H
  argReduce(op: string, x: H, dim: number | null, keepdim: boolean): H
  topk(x: H, k: number, dim: number, largest: boolean, sorted: boolean): [H, H]
  sort(x: H, dim: number, descending: boolean): [H, H]
  reshape(x: H, shape: number[]): H
  permute(x: H, dims: number[]): H
  transpose(x: H, dim0: number, dim1: number): H
  expand(x: H, shape: number[]): H
  repeat(x: H, repeats: number[]): H
  squeeze(x: H, dim: number | null): H
  unsqueeze(x: H, dim: number): H
  flatten(x: H, startDim: number, endDim: number): H
  slice(x: H, dim: number, start: number, end: number, step: number): H
  select(x: H, dim: number, index: number): H
  indexSelect(x: H, dim: number, index: H): H
  gather(x: H, dim: number, index: H): H
  cat(xs: H[], dim: number): H
  stack(xs: H[], dim: number): H
  flip(x: H, dims: number[]): H
  rot90(x: H, k: number, dims: number[]): H
  matmul(a: H, b: H): H
  // native/src/nn.cc
  conv2d(
    x: H,
    w: H,
    b: Maybe,
    stride: number[],
    padding: number[],
    dilation: number[],
    groups: number,
  ): H
  linear(x: H, w: H, b: Maybe): H
  batchNorm(
    x: H,
    w: Maybe,
    b: Maybe,
    mean: Maybe,
    v: Maybe,
    training: boolean,
    momentum: number,
    eps: number,
  ): H
  maxPool2d(
    x: H,
    kernel: number[],
    stride: number[],
    padding: number[],
    dilation: number[],
    ceil: boolean,
  ): H
  avgPool2d(
    x: H,
    kernel: number[],
    stride: number[],
    padding: number[],
    ceil: boolean,
    countPad: boolean,
  ): H
  adaptiveAvgPool2d(x: H, outputSize: number[]): H
  adaptiveMaxPool2d(x: H, outputSize: number[]): H
  interpolate(x: H, size: number[], mode: string, alignCorners: boolean): H
  pad(x: H, pads: number[], mode: string, value: number): H
  affineGrid(theta: H, size: number[], alignCorners: boolean): H
  gridSample(x: H, grid: H, mode: number, padding: number, alignCorners: boolean): H
  hardtanh(x: H, min: number, max: number): H
  leakyRelu(x: H, slope: number): H
  softmax(x: H, dim: number): H
  logSoftmax(x: H, dim: number): H
  dropout(x: H, p: number, training: boolean): H
  bceWithLogits(x: H, target: H, weight: Maybe, posWeight: Maybe, reduction: Reduction): H
  crossEntropy(
    x: H,
    target: H,
    weight: Maybe,
    reduction: Reduction,
    ignoreIndex: number,
    smoothing: number,
  ): H
  mseLoss(x: H, target: H, reduction: Reduction): H
  // native/src/optim.cc
  sgdStep(
    params: H[],
    buffers: H[],
    firstStep: boolean,
    lr: number,
    momentum: number,
    dampening: number,
    weightDecay: number,
    nesterov: boolean,
  ): void
  adamStep(
    params: H[],
    expAvg: H[],
    expAvgSq: H[],
    steps: number[],
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    decoupled: boolean,
  ): void
  clipGradNorm(params: H[], maxNorm: number): number
  // native/src/mmap.cc
  mmapFile(path: string): H
  // native/src/slide.cc
  slideOpen(path: string): Promise<{
    handle: SlideHandle
    levels: { width: number; height: number; downsample: number }[]
    properties: Record<string, string>
  } | null>
  slideClose(slide: SlideHandle): void
  slideAssociated(slide: SlideHandle): { name: string; width: number; height: number }[]
  slideReadRegion(
    slide: SlideHandle,
    x: number,
    y: number,
    level: number,
    width: number,
    height: number,
  ): Promise<H>
  // native/src/dist.cc (absent when built without Gloo's headers; distBackends is then ""),
  // comma-separated: "gloo", or "gloo,nccl" for a CUDA libtorch with NCCL's headers.
  distBackends: string
  distInit?(
    masterAddr: string,
    masterPort: number,
    rank: number,
    worldSize: number,
    timeoutMs: number,
    host: string,
    backend: 'gloo' | 'nccl',
  ): unknown
  distAllReduce?(group: unknown, tensors: H[], op: 'sum' | 'max' | 'min'): void
  distAllReduceSumAutograd?(group: unknown, tensor: H): H
  distBroadcast?(group: unknown, tensors: H[], root: number): void
  distAllGather?(group: unknown, tensor: H): H[]
  distBarrier?(group: unknown): void
  distDestroy?(group: unknown): void
}

// PCAM_NATIVE_ADDON loads another build of the addon (make test-asan's sanitizer build).
const BINARY =
  process.env.PCAM_NATIVE_ADDON || join(PACKAGE_ROOT, 'native', 'build', 'Release', 'pcam.node')
// A source checkout builds with make; an installed package with npm's rebuild.
const REBUILD = existsSync(join(PACKAGE_ROOT, 'Makefile'))
  ? `"make build" in ${PACKAGE_ROOT}`
  : '"npm rebuild pcam"'

function loadError(cause: unknown): ConfigError {
  const reason = cause instanceof Error ? cause.message : String(cause)
  if (!existsSync(BINARY)) {
    return new ConfigError(
      `The pcam native addon is not built (${BINARY} is missing). Run ${REBUILD}.`,
      { cause },
    )
  }
  return new ConfigError(
    `Could not load the pcam native addon: ${reason}\nPossible solutions:\n` +
      '- Install libtorch: "sudo apt-get install libtorch-dev" (Debian/Ubuntu).\n' +
      '- If libtorch lives elsewhere, add its lib/ folder to LD_LIBRARY_PATH.\n' +
      `- Rebuild against the libtorch you have: ${REBUILD}.`,
    { cause },
  )
}

function isNativeError(error: unknown): error is Error & { code?: unknown } {
  return error instanceof Error && !(error instanceof TorchError)
}

// Wraps each function so libtorch's errors arrive as TorchError with libtorch's message and code.
function wrap(raw: Record<string, unknown>): NativeBinding {
  const out: Record<string, unknown> = {}
  for (const [name, fn] of Object.entries(raw)) {
    if (typeof fn !== 'function') {
      out[name] = fn // constants such as distBackends
      continue
    }
    out[name] = (...args: unknown[]) => {
      try {
        return fn(...args)
      } catch (error) {
        if (!isNativeError(error)) throw error
        const code = typeof error.code === 'string' ? error.code : 'TORCH'
        throw new TorchError(error.message, code, { cause: error })
      }
    }
  }
  return out as unknown as NativeBinding
}

function load(): NativeBinding {
  const require = createRequire(import.meta.url)
  try {
    return wrap(require(BINARY) as Record<string, unknown>)
  } catch (error) {
    throw loadError(error)
  }
}

/** Default thread count: $PCAM_NUM_THREADS, else every core (libtorch would use 1 here). */
export function defaultNumThreads(): number {
  const fromEnv = Number(process.env.PCAM_NUM_THREADS)
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : availableParallelism()
}

// glibc hands blocks above a moving threshold to mmap and returns free heap above 128 KiB to the
// kernel, so every training step re-faults hundreds of MB of activations: measured here, most of
// the time of a step went to the kernel. A fixed 32 MiB threshold (glibc's maximum) and keeping
// up to 512 MiB of freed heap made the reference network train 1.5x and infer 2x faster, with a
// peak resident size no larger. Users who set glibc's own MALLOC_* variables keep theirs.
export const MALLOC_MMAP_THRESHOLD = 32 * 2 ** 20
export const MALLOC_TRIM_THRESHOLD = 512 * 2 ** 20

/**
 * Bytes of freed tensor memory kept for reuse (native/src/block_cache.cc): $PCAM_CPU_CACHE_MB, else
 * a quarter of the machine's memory up to 4 GiB. Even with the settings above, glibc maps every
 * block above 32 MiB afresh and trims a worker thread's heaps; at 160 px MobileNet's training
 * took 40,000 page faults a second. 0 turns the cache off.
 */
export function cpuBlockCacheCap(): number {
  const fromEnv = process.env.PCAM_CPU_CACHE_MB
  if (fromEnv !== undefined && fromEnv !== '') {
    const mb = Number(fromEnv)
    if (!Number.isFinite(mb) || mb < 0)
      throw new ConfigError(
        `PCAM_CPU_CACHE_MB must be a number of MiB, 0 or more (0 turns the cache off); it is "${fromEnv}"`,
      )
    return Math.floor(mb * 2 ** 20)
  }
  return Math.min(4 * 2 ** 30, Math.floor(totalmem() / 4))
}

/** What the CPU block cache holds and how often it served a request from a kept block. */
export interface CpuBlockCacheStats {
  /** Bytes of freed blocks the cache holds now, ready for reuse. */
  cachedBytes: number
  /** Most bytes it may hold (cpuBlockCacheCap, $PCAM_CPU_CACHE_MB); 0 when off. */
  capBytes: number
  /** Allocations served from a kept block, since the process started. */
  hits: number
  /** Allocations that found no kept block of their size and went to the system, since the start. */
  misses: number
}

/** The addon, loaded once per thread (each worker thread gets its own instance). */
export const native: NativeBinding = load()
// OpenMP's thread count is per thread, so every thread that loads the addon sets it.
native.setNumThreads(defaultNumThreads())
if (
  process.env.MALLOC_MMAP_THRESHOLD_ === undefined &&
  process.env.MALLOC_TRIM_THRESHOLD_ === undefined
) {
  native.setMallocOptions(MALLOC_MMAP_THRESHOLD, MALLOC_TRIM_THRESHOLD)
}
native.setCpuBlockCache(cpuBlockCacheCap())
