/**
 * `pcam predict`: probabilities for patches that are not in a store yet (a folder of TIFFs such as
 * Kaggle's test set, class folders, PCam HDF5, zips) or for a store, as CSV rows.
 * @module
 */
import { existsSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { writeCsv } from '../data/csv.js'
import { IMAGE_EXTENSIONS } from '../data/sources/source.js'
import { DataError } from '../errors.js'
import { prepareStore } from '../data/prepare.js'
import { PatchStore, STORE_FILES } from '../data/store.js'
import { runThreshold } from '../run/run-folder.js'
import type { Tta } from '../data/tta.js'
import { openPredictor, predictStoreWith, type Engine } from './predictor.js'
import type { ComputeRequest } from '../learn/precision.js'

/** One patch's prediction. */
export interface Prediction {
  /** The patch's id in the store (for image files given one by one, the name without extension). */
  id: string
  /** Probability of the positive class. */
  probability: number
}

/** What predictFiles predicts, and how (the options of `pcam predict`). */
export interface PredictFilesOptions {
  /** Run folder (`--model`). */
  run: string
  /** Image files, folders, archives or HDF5 files to predict, or one patch store folder. */
  sources: string[]
  /** Test-time augmentation (`--tta`, `--tta-views`). */
  tta: Tta
  /** Inference engine (default: defaultEngine of the run). */
  engine?: Engine
  /** Precision and device of libtorch's model (default auto). */
  compute?: ComputeRequest
  /** Called after each batch with the patches predicted so far and the total. */
  onProgress?: (done: number, total: number) => void
}

/**
 * Single image files become one flat folder of links (their ids are their names without the
 * extension); returns null when the sources are not all image files.
 */
async function imageFilesFolder(sources: string[], scratch: string): Promise<string[] | null> {
  const isImage = (s: string) => IMAGE_EXTENSIONS.test(s) && existsSync(s) && statSync(s).isFile()
  if (!sources.every(isImage)) return null
  const folder = join(scratch, 'images')
  await mkdir(folder)
  for (const source of sources) {
    const link = join(folder, basename(source))
    if (existsSync(link))
      throw new DataError(`Two files are named ${basename(source)}; their ids would clash.`)
    await symlink(resolve(source), link)
  }
  return [folder]
}

/**
 * Decodes the sources into a temporary store (unless they are one), then predicts every patch;
 * returns the predictions and the run's decision threshold.
 */
export async function predictFiles(options: PredictFilesOptions): Promise<{
  /** One prediction per patch, in store order. */
  predictions: Prediction[]
  /** The run's decision threshold on the probability (0.5 when it records none). */
  threshold: number
}> {
  const isStore =
    options.sources.length === 1 && existsSync(join(options.sources[0] as string, STORE_FILES.meta))
  const scratch = isStore ? null : await mkdtemp(join(tmpdir(), 'pcam-predict-'))
  const storeDir = scratch ? join(scratch, 'store') : (options.sources[0] as string)
  try {
    if (scratch) {
      const sources = (await imageFilesFolder(options.sources, scratch)) ?? options.sources
      await prepareStore({ sources, out: storeDir, split: { kind: 'source' } })
    }
    const predictor = await openPredictor(options.run, options.engine, options.compute)
    let opened: PatchStore | undefined
    try {
      const store = (opened = PatchStore.open(storeDir))
      const indices = [...Array(store.count).keys()]
      const probabilities = await predictStoreWith(predictor, store, indices, {
        tta: options.tta,
        onProgress: options.onProgress,
      })
      const predictions = indices.map((i) => ({
        id: store.meta.ids[i] as string,
        probability: probabilities[i] as number,
      }))
      return { predictions, threshold: runThreshold(predictor.config) }
    } finally {
      predictor.dispose()
      opened?.dispose()
    }
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true })
  }
}

/** Kaggle's submission format (id,label with the probability: the competition scores ROC AUC). */
export function kaggleCsv(predictions: Prediction[]): string {
  return writeCsv(
    ['id', 'label'],
    predictions.map((p) => [p.id, p.probability]),
  )
}

/** id, probability, predicted label at the threshold, the threshold. */
export function plainCsv(predictions: Prediction[], threshold: number): string {
  return writeCsv(
    ['id', 'probability', 'predicted', 'threshold'],
    predictions.map((p) => [p.id, p.probability, p.probability >= threshold ? 1 : 0, threshold]),
  )
}
