/**
 * Devices a tensor can live on: the CPU always, CUDA GPUs when the linked libtorch has them.
 * @module
 */
import { DeviceError, ValidationError } from '../errors.js'
import { native, type CpuFeatures, type CudaDeviceFacts } from './native.js'

export type { CpuFeatures, CudaDeviceFacts }

/** A device name: 'cpu', 'cuda' (the first GPU, same as 'cuda:0') or 'cuda:N'. */
export type Device = 'cpu' | 'cuda' | `cuda:${number}`

/** Number of CUDA GPUs libtorch can use (0 for a CPU-only build or a machine without GPUs). */
export function cudaDeviceCount(): number {
  return native.cudaDeviceCount()
}

/** Whether at least one CUDA GPU is usable, as torch.cuda.is_available(). */
export function cudaIsAvailable(): boolean {
  return cudaDeviceCount() > 0
}

/** Whether the linked libtorch was built with CUDA. */
export function cudaBuild(): boolean {
  return native.buildInfo().cuda
}

/** The vector and matrix units of this CPU, read from CPUID as PyTorch's cpuinfo reads them. */
export function cpuFeatures(): CpuFeatures {
  return native.cpuFeatures()
}

/** Name, compute capability and memory of visible GPU `index`; null without a CUDA driver. */
export function cudaDeviceFacts(index: number): CudaDeviceFacts | null {
  return native.cudaDeviceFacts(index)
}

/**
 * cuDNN times its algorithms once per input shape and keeps the fastest, as
 * torch.backends.cudnn.benchmark: worth it where every batch has the same size.
 */
export function setCudnnBenchmark(enabled: boolean): void {
  native.setCudnnBenchmark(enabled)
}

/**
 * The calling thread's current GPU, as torch.cuda.set_device: what is allocated without naming
 * a device (pinned host memory, the CUDA context) goes there. A rank on cuda:N sets it to N.
 */
export function setCurrentDevice(device: Device): void {
  if (device !== 'cpu') native.setCurrentDevice(`cuda:${cudaIndex(device)}`)
}

/** The index of a CUDA device name ('cuda' is 'cuda:0'). */
export function cudaIndex(device: Device): number {
  return device === 'cpu' ? -1 : device === 'cuda' ? 0 : Number(device.slice(5))
}

/** Checks a device name and that this machine has it. */
export function checkDevice(value: unknown): Device {
  if (value === 'cpu') return value
  const match = typeof value === 'string' ? /^cuda(?::(\d+))?$/.exec(value) : null
  if (!match) {
    throw new ValidationError(
      `Expected "cpu", "cuda" or "cuda:N" for device but received ${String(value)}`,
    )
  }
  const count = cudaDeviceCount()
  if (count === 0) {
    const build = cudaBuild() ? 'no CUDA GPU is visible' : 'this libtorch has no CUDA'
    throw new DeviceError(
      `CUDA requested but ${build}. Use --device cpu, or build pcam against a CUDA libtorch (LIBTORCH=<its folder> or a CUDA torch in python3, then make build).`,
    )
  }
  const index = match[1] === undefined ? 0 : Number(match[1])
  if (index >= count) {
    throw new DeviceError(`Device ${value} requested but only ${count} CUDA GPU(s) are visible.`)
  }
  return value as Device
}
