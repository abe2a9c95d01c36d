/**
 * Process settings of the engine: thread count, random seed, native memory and build facts.
 * @module
 */
import { checkInteger } from './check.js'
import {
  type CpuBlockCacheStats,
  defaultNumThreads,
  MALLOC_MMAP_THRESHOLD,
  MALLOC_TRIM_THRESHOLD,
  native,
} from './native.js'
import type { Device } from './device.js'
import { kHandle, Tensor } from './tensor.js'

export { defaultNumThreads }

/** The glibc allocator settings pcam applies at load, as the environment variables glibc reads. */
export function mallocEnvironment(): Record<string, string> {
  return {
    MALLOC_MMAP_THRESHOLD_: String(MALLOC_MMAP_THRESHOLD),
    MALLOC_TRIM_THRESHOLD_: String(MALLOC_TRIM_THRESHOLD),
  }
}

/** What the CPU block cache holds and how often it served a request (see cpuBlockCacheCap). */
export function cpuBlockCacheStats(): CpuBlockCacheStats {
  return native.cpuBlockCacheStats()
}

/** Frees the tensor memory the CPU block cache keeps for reuse. */
export function emptyCpuBlockCache(): void {
  native.emptyCpuBlockCache()
}

/** Threads libtorch uses for one op (it defaults to 1 on these machines, so pcam sets it). */
export function setNumThreads(threads: number): void {
  native.setNumThreads(checkInteger(threads, 'threads', 1))
}
/** Threads libtorch uses for one op (see setNumThreads). */
export function getNumThreads(): number {
  return native.getNumThreads()
}

/** Seeds libtorch's random generator (rand, randn, dropout, init, randperm). */
export function manualSeed(seed: number): void {
  native.manualSeed(checkInteger(seed, 'seed', 0))
}

/**
 * A device's default generator state (a uint8 tensor), to save with a checkpoint: the CPU's
 * (model init, data order, CPU dropout) or a GPU's (dropout and random ops on that GPU).
 */
export function getRngState(device: Device = 'cpu'): Tensor {
  return new Tensor(native.getRngState(device))
}
/** Restores a state from getRngState(device): the draws that follow repeat exactly. */
export function setRngState(state: Tensor, device: Device = 'cpu'): void {
  native.setRngState(device, state[kHandle])
}

/** A snapshot of what holds memory, from memoryStats(). */
export interface MemoryStats {
  /** Tensor handles neither disposed nor garbage-collected, over all threads. */
  liveTensors: number
  /** Resident memory of the process in bytes (native and JavaScript). */
  rss: number
  /** V8 heap in use, in bytes. */
  heapUsed: number
}

/** What is holding memory now; a steady training loop keeps liveTensors and rss flat. */
export function memoryStats(): MemoryStats {
  const { rss, heapUsed } = process.memoryUsage()
  return { liveTensors: native.liveTensors(), rss, heapUsed }
}

/** How the native addon was built: libtorch version, C++ ABI, CUDA support and parallel backend. */
export function buildInfo(): ReturnType<typeof native.buildInfo> {
  return native.buildInfo()
}
