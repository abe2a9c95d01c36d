/**
 * Memory-mapped files as uint8 tensors: how the patch store is read without loading it.
 * @module
 */
import { DataError } from '../errors.js'
import { native } from './native.js'
import { Tensor } from './tensor.js'

/**
 * Maps a file as a 1-D uint8 tensor. The mapping is copy-on-write: writes through the tensor
 * never reach the file. Reshape it to the stored layout, then gather batches with indexSelect.
 */
export function mmapFile(path: string): Tensor {
  try {
    return new Tensor(native.mmapFile(path))
  } catch (error) {
    throw new DataError(`Cannot memory-map ${path}: ${(error as Error).message}`, { cause: error })
  }
}
