/**
 * Batches from a patch store: shuffled per epoch from a seeded generator, gathered from the
 * memory-mapped images, augmented and normalised inside libtorch. The same seed and epoch give
 * the same batches, which is what an exact resume needs.
 * @module
 */
import { ValidationError } from '../errors.js'
import {
  checkInteger,
  Generator as TorchGenerator,
  keep,
  randperm,
  tensor,
  type Device,
  type Tensor,
} from '../torch/index.js'
import { prepareBatch, type AugmentOptions, type Normalization } from './augment.js'
import type { PatchStore } from './store.js'

/**
 * The most patches one batch may hold. Training batches are 32 to 512; 4096 patches at 224 px are
 * already gigabytes of activations, and a mistyped 10^9 would otherwise be a crash, not a message.
 */
export const MAX_BATCH_SIZE = 4096

/** How a PatchLoader makes its batches. */
export interface LoaderOptions {
  /** Patches per batch (per rank in data-parallel training; `pcam train --batch-size`). */
  batchSize: number
  /** Shuffle the patches each epoch (training); otherwise they come in the order given. */
  shuffle: boolean
  /** Drop a last batch smaller than batchSize (keeps batch norm statistics sound in training). */
  dropLast: boolean
  /** Seed of the shuffling and augmentation draws; each epoch's generator is derived from it. */
  seed: number
  /** Output size (default: the store's patch size). */
  size?: number
  /** Channel statistics the batches are normalised with. */
  normalization: Normalization
  /** Augmentation applied to every batch; null or left out for none (validation). */
  augment?: AugmentOptions | null
  /**
   * Data-parallel training: this rank's part of every epoch. With dropLast (training), the epoch
   * is cut into global batches of batchSize x worldSize and this rank takes its slice of each, so
   * the ranks together see exactly what one process with the global batch would; without
   * (validation), it takes one contiguous stretch, in order, for gathering back.
   */
  shard?: {
    /** This process's rank, 0 to worldSize - 1. */
    rank: number
    /** Number of ranks. */
    worldSize: number
  }
  /** Where batches go (default the CPU): they are gathered and augmented on the CPU, then copied. */
  device?: Device
}

/** One batch from a PatchLoader; its tensors belong to the caller. */
export interface Batch {
  /** float N x 3 x size x size, channels-last, normalised. */
  x: Tensor
  /** float N labels. */
  y: Tensor
  /** Store indices of the patches. */
  indices: Tensor
}

/** Seeded, reproducible batches of a set of store patches, augmented and normalised. */
export class PatchLoader {
  readonly #indices: Tensor
  /** Output size; progressive resizing changes it between epochs. */
  size: number
  /** Each batch is made for its consumer, who disposes it (see EpochLoader). */
  readonly batchesAreFresh = true

  constructor(
    /** The store the patches are read from. */
    readonly store: PatchStore,
    indices: readonly number[],
    /** The options the loader was made with. */
    readonly options: LoaderOptions,
  ) {
    checkInteger(options.batchSize, 'batchSize', 1, MAX_BATCH_SIZE)
    if (indices.length === 0)
      throw new ValidationError('The loader got no patches (is the split empty?)')
    this.#indices = keep(tensor(BigInt64Array.from(indices, BigInt)))
    this.size = options.size ?? store.meta.height
  }

  /** The store's class names. */
  get classes(): readonly string[] {
    return this.store.meta.classes
  }

  /** Patches in the loader (all ranks together). */
  get count(): number {
    return this.#indices.size(0)
  }

  /**
   * Store indices of the patches (all ranks together), in the order of an unshuffled epoch: the
   * order of a validation pass's outputs, gathered over the ranks.
   */
  storeIndices(): number[] {
    return this.#indices.toArray()
  }

  /** This rank's stretch of a validation epoch, [start, end) in epoch order. */
  #stretch(): [number, number] {
    const { rank, worldSize } = this.options.shard ?? { rank: 0, worldSize: 1 }
    return [
      Math.floor((rank * this.count) / worldSize),
      Math.floor(((rank + 1) * this.count) / worldSize),
    ]
  }

  /** Batches per epoch (of this rank). */
  get length(): number {
    const { batchSize, dropLast, shard } = this.options
    if (shard && dropLast) return Math.floor(this.count / (batchSize * shard.worldSize))
    const [start, end] = this.#stretch()
    const count = end - start
    const full = Math.floor(count / batchSize)
    return dropLast || count % batchSize === 0 ? full : full + 1
  }

  /** Positions in the epoch's order of the patches this rank reads, in reading order. */
  #positions(): number[] | null {
    const { batchSize, dropLast, shard } = this.options
    if (!shard || shard.worldSize === 1) return null
    if (!dropLast) {
      const [start, end] = this.#stretch()
      return Array.from({ length: end - start }, (_, k) => start + k)
    }
    const positions: number[] = []
    for (let b = 0; b < this.length; b++) {
      const first = (b * shard.worldSize + shard.rank) * batchSize
      for (let k = 0; k < batchSize; k++) positions.push(first + k)
    }
    return positions
  }

  /**
   * The batches of one epoch. Each batch's tensors belong to the caller: dispose them (or run the
   * step inside scope()) before asking for the next. `from` skips batches, for resuming.
   */
  *epoch(epoch: number, from = 0): Generator<Batch> {
    const generator = new TorchGenerator(this.options.seed * 100_003 + epoch)
    let shuffled: Tensor
    if (this.options.shuffle) {
      const permutation = randperm(this.count, { generator })
      shuffled = this.#indices.indexSelect(0, permutation)
      permutation.dispose()
    } else {
      shuffled = this.#indices.clone()
    }
    const positions = this.#positions()
    let order = shuffled
    if (positions) {
      const at = tensor(BigInt64Array.from(positions, BigInt))
      order = shuffled.indexSelect(0, at)
      at.dispose()
      shuffled.dispose()
    }
    keep(order)
    try {
      const { batchSize } = this.options
      const count = order.size(0)
      for (let b = 0; b < this.length; b++) {
        const start = b * batchSize
        const indices = order.slice(0, start, Math.min(start + batchSize, count))
        // Draws happen for skipped batches too, so a resumed epoch continues the same stream.
        const { images: gathered, labels } = this.store.gather(indices)
        // A GPU gets the uint8 patches (a quarter of float32's bytes) and augments them itself.
        const images = this.#toDevice(gathered)
        const x = prepareBatch(images, {
          size: this.size,
          normalization: this.options.normalization,
          augment: this.options.augment,
          generator,
        })
        images.dispose()
        if (b < from) {
          x.dispose()
          labels.dispose()
          indices.dispose()
          continue
        }
        const y = labels.float()
        labels.dispose()
        yield { x, y: this.#toDevice(y), indices }
      }
    } finally {
      order.dispose()
    }
  }

  /**
   * `t` on the loader's device (disposing the CPU copy), or `t` itself on the CPU. The copy to a
   * GPU goes from pinned memory without waiting for it, as PyTorch's DataLoader with pin_memory
   * and non_blocking copies; the GPU orders the work that uses it after it.
   */
  #toDevice(t: Tensor): Tensor {
    const device = this.options.device ?? 'cpu'
    if (device === 'cpu') return t
    const pinned = t.pinMemory()
    t.dispose()
    const moved = pinned.to(device, { nonBlocking: true })
    // libtorch's pinned-memory cache keeps the block until the copy that reads it is done.
    pinned.dispose()
    return moved
  }

  /** Frees the loader's index tensor; the store stays open. */
  dispose(): void {
    this.#indices.dispose()
  }
}
