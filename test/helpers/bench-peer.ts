/**
 * The skip reason for benchmark tests that run both pcam and its PyTorch peer on real patches.
 * @module
 */
import { torchPython } from '../../src/bench/python.js'
import { skipWithoutData } from './shared-data.js'

/** For node:test's `skip` option: false when the real patches and PyTorch are both there. */
export function skipWithoutDataOrTorch(): string | false {
  if (skipWithoutData) return skipWithoutData
  try {
    torchPython()
  } catch (error) {
    return (error as Error).message
  }
  return false
}
