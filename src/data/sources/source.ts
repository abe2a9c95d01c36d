/**
 * What every data source yields: labelled (or unlabelled) patches with an id, the source's own
 * split, and either encoded image bytes or raw pixels; plus the problems found while listing.
 * @module
 */
import type { ReadLimit } from '../tree.js'

export type SplitName = 'train' | 'valid' | 'test'
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'valid', 'test']

export interface PatchItem {
  id: string
  /** Class index, or null when the source has no label for it (a test set). */
  label: number | null
  split: SplitName | null
  /** Slide (whole-slide image) the patch was cut from, when the source knows it. */
  slide: string | null
  /** Where the patch comes from, for messages: a file path, "archive.zip:entry", "x.h5[17]". */
  location: string
  /** Encoded image file bytes (PNG, JPEG, TIFF), to decode. */
  encoded?: Buffer
  /** Or raw pixels, height x width x 3, row-major. */
  pixels?: Uint8Array
  height?: number
  width?: number
}

export interface Problem {
  location: string
  reason: string
}

export interface Source {
  kind: 'kaggle' | 'pcam-hdf5' | 'class-folders' | 'slides'
  /** What the source is, naming its folder or archives but not the folders above them. */
  description: string
  /** Class names by label index. */
  classes: string[]
  /** Number of items read() will yield. */
  count: number
  /** Problems found while listing (missing labels, duplicate ids, ...). */
  problems: Problem[]
  read(): AsyncGenerator<PatchItem>
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
