/**
 * The patch store (docs/formats.md): images.u8 (N x H x W x 3 uint8, row-major, no header), labels.u8
 * and meta.json. Opening one memory-maps the images, so batches are gathered by index with no
 * decoding and no copy of the whole file into memory.
 * @module
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { DataError } from '../errors.js'
import { mmapFile, tensor, type Tensor } from '../torch/index.js'
import type { SplitName } from './sources/source.js'

export const STORE_FORMAT = 'pcam-patch-store'
export const STORE_VERSION = 1
/** labels.u8 value of a patch without a label (a test set). */
export const UNLABELLED = 255

/** A patch store's meta.json: what the store holds and where it came from. */
export interface StoreMeta {
  /** Always "pcam-patch-store". */
  format: typeof STORE_FORMAT
  /** Version of the store format (STORE_VERSION). */
  version: number
  /** Number of patches. */
  count: number
  /** Patch height in pixels. */
  height: number
  /** Patch width in pixels. */
  width: number
  /** Colour channels per pixel (RGB). */
  channels: 3
  /** Class names, in label index order. */
  classes: string[]
  /** The source the store was prepared from. */
  source: {
    /** Kind of source: kaggle, pcam-hdf5, class-folders or slides. */
    kind: string
    /** The source in words, naming its folder or archives. */
    description: string
    /** The paths given to `pcam data prepare`. */
    paths: string[]
  }
  /**
   * Id of each patch, unique in the store: the Kaggle id, the image's path in its class folders
   * without the extension, `<split>/<index>` for PCam HDF5, `<slide>_<x>_<y>` for slides.
   */
  ids: string[]
  /** Slide of each patch, when known. */
  slides: (string | null)[] | null
  /** Split of each patch. */
  splits: SplitName[]
  /** How the splits were made, in words (shown in reports, with its caveats). */
  splitMethod: string
  /** Per-channel mean and standard deviation of the training patches, on the 0..1 scale. */
  mean: [number, number, number]
  /** Per-channel standard deviation, from the same patches as mean, on the 0..1 scale. */
  std: [number, number, number]
  /** Which patches mean and std come from: "all" when the store has no training patches. */
  statsFrom?: 'train' | 'all'
  /** Exact duplicates left out (pcam data prepare --dedupe). */
  duplicatesDropped: number
  /** Number of bad inputs left out (pcam data prepare --skip-bad); listed in skipped.txt. */
  skipped: number
  /** Micrometres per pixel the patches were taken at, when known (pcam data prepare --mpp). */
  mpp?: number
  /** When the store was written, as an ISO 8601 timestamp. */
  createdAt: string
  /** Version of pcam that wrote the store. */
  pcamVersion: string
}

/** The files of a patch store: the one place their names are spelled. */
export const STORE_FILES = {
  meta: 'meta.json',
  images: 'images.u8',
  labels: 'labels.u8',
  skipped: 'skipped.txt',
} as const

/** Whether dir holds a patch store's meta.json (what --overwrite may replace). */
export function isPatchStore(dir: string): boolean {
  const metaPath = join(dir, STORE_FILES.meta)
  if (!existsSync(metaPath)) return false
  try {
    return (
      (JSON.parse(readFileSync(metaPath, 'utf8')) as { format?: unknown }).format === STORE_FORMAT
    )
  } catch {
    // Unreadable or not JSON: not a store.
    return false
  }
}

/** µm/px of PCam's and Kaggle's patches (Camelyon16 scans of 0.243 µm/px, taken at 10x). */
export const PCAM_MPP = 0.972

/** The µm/px a source kind implies (PCam, Kaggle), or undefined when the kind says nothing. */
export function sourceMpp(kind: string | undefined): number | undefined {
  return kind === 'pcam-hdf5' || kind === 'kaggle' ? PCAM_MPP : undefined
}

/** An open patch store: its images memory-mapped, its labels in memory. */
export class PatchStore {
  /** N x H x W x 3 uint8, memory-mapped. */
  readonly images: Tensor
  /** N uint8 labels (UNLABELLED for none). */
  readonly labels: Tensor
  readonly #labels: Uint8Array

  private constructor(
    /** The store's folder. */
    readonly dir: string,
    /** The store's meta.json. */
    readonly meta: StoreMeta,
  ) {
    const mapped = mmapFile(join(dir, STORE_FILES.images))
    this.images = mapped.reshape(meta.count, meta.height, meta.width, 3)
    mapped.dispose()
    this.#labels = new Uint8Array(readFileSync(join(dir, STORE_FILES.labels)))
    this.labels = tensor(this.#labels)
  }

  /** Opens a store written by `pcam data prepare`, checking that its files agree. */
  static open(dir: string): PatchStore {
    const metaPath = join(dir, STORE_FILES.meta)
    if (!existsSync(dir)) {
      throw new DataError(
        `Patch store not found: ${dir}. Create one with "pcam data prepare <source> --out ${dir}".`,
      )
    }
    if (!existsSync(metaPath)) {
      // Most likely a source folder: suggest a store beside it, never inside the source.
      const sibling = `${dir.replace(/[\\/]+$/, '')}-store`
      throw new DataError(
        `${dir} is not a patch store (no meta.json). Create one with "pcam data prepare ${dir} ` +
          `--out ${sibling}" (beside the source folder, not inside it), then pass ${sibling}.`,
      )
    }
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as StoreMeta
    if (meta.format !== STORE_FORMAT || meta.version !== STORE_VERSION) {
      throw new DataError(
        `${metaPath} is not a version ${STORE_VERSION} ${STORE_FORMAT}; prepare the store again.`,
      )
    }
    const expected = {
      [STORE_FILES.images]: meta.count * meta.height * meta.width * 3,
      [STORE_FILES.labels]: meta.count,
    }
    for (const [file, bytes] of Object.entries(expected)) {
      const path = join(dir, file)
      const size = existsSync(path) ? statSync(path).size : -1
      if (size !== bytes) {
        throw new DataError(
          `${path} has ${size < 0 ? 'gone missing' : `${size} bytes`}, expected ${bytes}; prepare the store again.`,
        )
      }
    }
    return new PatchStore(dir, meta)
  }

  /** Number of patches. */
  get count(): number {
    return this.meta.count
  }

  /** Label of patch i (UNLABELLED for none). */
  label(i: number): number {
    return this.#labels[i] as number
  }

  /** Indices of the patches in a split, in store order. */
  indicesOf(split: SplitName): number[] {
    const out: number[] = []
    this.meta.splits.forEach((s, i) => {
      if (s === split) out.push(i)
    })
    return out
  }

  /** Gathers patches by index: uint8 images (B x H x W x 3) and their labels. */
  gather(indices: Tensor): {
    /** uint8 B x H x W x 3 patches, in the order of `indices`. */
    images: Tensor
    /** uint8 B labels (UNLABELLED for none). */
    labels: Tensor
  } {
    return {
      images: this.images.indexSelect(0, indices),
      labels: this.labels.indexSelect(0, indices),
    }
  }

  /** The pixels of patch i (H x W x 3, row-major), copied out of the mapped file. */
  image(i: number): Uint8Array {
    const one = this.images.select(0, i)
    try {
      return one.contiguous().data() as Uint8Array
    } finally {
      one.dispose()
    }
  }

  /** Frees the image and label tensors; the store cannot be read after. */
  dispose(): void {
    this.images.dispose()
    this.labels.dispose()
  }
}
