/**
 * Devices a tensor can live on: the CPU always, CUDA GPUs when the linked libtorch has them.
 * @module
 */
import { DeviceError, ValidationError } from '../errors.js'
import { native } from './native.js'

export type Device = 'cpu' | 'cuda' | `cuda:${number}`

/** Number of CUDA GPUs libtorch can use (0 for a CPU-only build or a machine without GPUs). */
export function cudaDeviceCount(): number {
  return native.cudaDeviceCount()
}

export function cudaIsAvailable(): boolean {
  return cudaDeviceCount() > 0
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
    const build = native.buildInfo().cuda ? 'no CUDA GPU is visible' : 'this libtorch has no CUDA'
    throw new DeviceError(
      `CUDA requested but ${build}. Use --device cpu or install the CUDA build of libtorch.`,
    )
  }
  const index = match[1] === undefined ? 0 : Number(match[1])
  if (index >= count) {
    throw new DeviceError(`Device ${value} requested but only ${count} CUDA GPU(s) are visible.`)
  }
  return value as Device
}
