/**
 * What every data source yields: labelled (or unlabelled) patches with an id, the source's own
 * split, and either encoded image bytes or raw pixels; plus the problems found while listing.
 * @module
 */
import type { ReadLimit } from '../tree.js'

/** The part of the data a patch belongs to: training, validation (model choice), or test. */
export type SplitName = 'train' | 'valid' | 'test'
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'valid', 'test']

/** One patch as a source yields it, before it is written to a patch store. */
export interface PatchItem {
  /**
   * Unique within the source, kept in the store's `ids`: the file name, the Kaggle id,
   * "<split>/<index>" in PCam's HDF5 files, or "<slide>_<x>_<y>" for patches cut from slides.
   */
  id: string
  /** Class index, or null when the source has no label for it (a test set). */
  label: number | null
  /** The source's own split (from its folders or files), or null when it has none. */
  split: SplitName | null
  /** Slide (whole-slide image) the patch was cut from, when the source knows it. */
  slide: string | null
  /** Where the patch comes from, for messages: a file path, "archive.zip:entry", "x.h5[17]". */
  location: string
  /** Encoded image file bytes (PNG, JPEG, TIFF), to decode. */
  encoded?: Buffer
  /** Or raw pixels, height x width x 3, row-major. */
  pixels?: Uint8Array
  /** Height of the `pixels` image (set with `pixels`). */
  height?: number
  /** Width of the `pixels` image (set with `pixels`). */
  width?: number
}

/** A bad input found in a source: left out with `--skip-bad`, else fails `pcam data prepare`. */
export interface Problem {
  /** Where the input is: a file path, "archive.zip:entry", "x.h5[17]". */
  location: string
  /** What is wrong with it, in words. */
  reason: string
}

/** A set of patches in one of the layouts `pcam data prepare` reads, listed and ready to read. */
export interface Source {
  /** The layout: Kaggle's folders, PCam's HDF5 files, class folders, or patches cut from slides. */
  kind: 'kaggle' | 'pcam-hdf5' | 'class-folders' | 'slides'
  /** What the source is, naming its folder or archives but not the folders above them. */
  description: string
  /** Class names by label index. */
  classes: string[]
  /** Number of items read() will yield. */
  count: number
  /** Problems found while listing (missing labels, duplicate ids, ...). */
  problems: Problem[]
  /** Yields the source's `count` patches one at a time, in the same order on every call. */
  read(): AsyncGenerator<PatchItem>
  /** Releases the files and archives the source holds open, if any. */
  close(): Promise<void>
}

export const IMAGE_EXTENSIONS = /\.(png|jpe?g|tiff?)$/i

/**
 * Largest patch image read into memory: a PCam patch is 5-30 KB and even an uncompressed
 * 1024 x 1024 RGB TIFF is 3 MiB, so anything larger is not a patch (or is a zip bomb).
 */
export const MAX_IMAGE: ReadLimit = { bytes: 16 * 2 ** 20, what: 'a patch image' }
/**
 * Most pixels a patch image may declare before it is decoded: a 1024 x 1024 patch takes 3 MiB;
 * a small file declaring 16000 x 16000 (a decompression bomb) would take 768 MiB per decode.
 */
export const MAX_PATCH_PIXELS = 1024 * 1024
/** Largest table read whole (train_labels.csv, _meta.csv): Kaggle's full train_labels.csv is 9 MB. */
export const MAX_TABLE: ReadLimit = { bytes: 256 * 2 ** 20, what: 'a label or metadata table' }

/** Reads files with up to `ahead` reads in flight, yielding them in order. */
export async function* readAhead<T, R>(
  items: T[],
  ahead: number,
  read: (item: T) => Promise<R>,
): AsyncGenerator<R> {
  const queue: Promise<R>[] = []
  let next = 0
  while (next < items.length || queue.length > 0) {
    while (queue.length < ahead && next < items.length) {
      const pending = read(items[next++] as T)
      pending.catch(() => undefined) // awaited below; avoids an unhandled rejection meanwhile
      queue.push(pending)
    }
    yield await (queue.shift() as Promise<R>)
  }
}
