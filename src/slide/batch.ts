/**
 * Slides in bulk: a run loaded once for slide prediction, folders expanded into slides, a batch
 * that goes on past a bad slide and lists it, the summary CSV, and `pcam slide info`'s facts.
 * @module
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { writeCsv } from '../data/csv.js'
import { DataError, PcamError } from '../errors.js'
import { modelFingerprint } from '../run/fingerprint.js'
import { runPatchSize, runThreshold, type RunConfig } from '../run/run-folder.js'
import type { Tta } from '../data/tta.js'
import { openPredictor, type Engine } from '../eval/predictor.js'
import type { ComputeRequest } from '../learn/precision.js'
import { listSlides, OpenSlide, SLIDE_EXTENSIONS, type SlideLevel } from '../torch/openslide.js'
import type { TilePredictor } from './pipeline.js'
import {
  completeOutput,
  predictSlide,
  slideStem,
  type SlideModel,
  type SlidePredictOptions,
  type SlideSummary,
} from './predict-slide.js'
import { modelResolution, objectivePower, slideResolution } from './resolution.js'

/** A run loaded for slide prediction by loadSlideModel; dispose() it when done. */
export interface LoadedSlideModel extends SlideModel {
  /** The run's config.json (for an ensemble, the ensemble's). */
  config: RunConfig
  /** Frees the predictor (model or ONNX session, an ensemble's members). */
  dispose(): void
}

/**
 * A run as slide prediction sees it: patch size, µm/px (see modelResolution), threshold, and the
 * engine that predicts; the CLI's and the server's slide models both come from here.
 */
export function slideModelOf(
  config: RunConfig,
  predict: TilePredictor,
  options: { modelMpp?: number; threshold?: number; fingerprint?: string } = {},
): SlideModel {
  return {
    patchSize: runPatchSize(config),
    mpp: modelResolution(config, options.modelMpp),
    threshold: options.threshold ?? runThreshold(config),
    predict,
    fingerprint: options.fingerprint,
  }
}

/** How loadSlideModel opens a run: resolution, threshold, TTA, engine, precision and device. */
export type SlideModelOptions = {
  /** µm/px of the run's patches, overriding what the run records (for runs that record none). */
  modelMpp?: number
  /** Decision threshold for tumour tiles, a probability in [0, 1] (default the run's). */
  threshold?: number
  /** Test-time augmentation of the tile predictions (default none). */
  tta?: Tta
  /** Engine that predicts (default: defaultEngine for the precision and device). */
  engine?: Engine
} & ComputeRequest

/** A run ready for slides, on openPredictor's engine, precision and device. */
export async function loadSlideModel(
  run: string,
  options: SlideModelOptions = {},
): Promise<LoadedSlideModel> {
  const predictor = await openPredictor(run, options.engine, options)
  try {
    const predict: TilePredictor = (images) => predictor.predict(images, options.tta)
    return {
      ...slideModelOf(predictor.config, predict, {
        ...options,
        fingerprint: modelFingerprint(run),
      }),
      config: predictor.config,
      dispose: () => predictor.dispose(),
    }
  } catch (error) {
    predictor.dispose()
    throw error
  }
}

/** Inputs expanded: files as given, folders into their slide files (sorted, not recursive). */
export function findSlides(inputs: string[]): string[] {
  return inputs.flatMap((input) => {
    let isDir = false
    try {
      isDir = statSync(input).isDirectory()
    } catch {
      return [input] // a missing path fails as a slide, with its name, in the batch
    }
    if (!isDir) return [input]
    const found = listSlides(input).map((f) => join(input, f))
    if (found.length === 0)
      throw new DataError(`No slides (${SLIDE_EXTENSIONS.join(', ')}) in ${input}`)
    return found
  })
}

/** A slide of a batch that could not be predicted, and why. */
export interface SlideFailure {
  /** The slide's path, as the batch's inputs gave it. */
  slide: string
  /** The error's message (it names the slide). */
  message: string
}

/** What a batch of slides came to: one entry per slide, in results, failures or missing. */
export interface BatchResult {
  /** Summaries of the slides predicted, or skipped because their complete output existed. */
  results: SlideSummary[]
  /** Slides whose prediction failed, with the error's message. */
  failures: SlideFailure[]
  /** Slides of a shared batch that no rank reached (a rank died first). */
  missing: string[]
  /** <out>/slides.csv */
  csv: string
}

/** This process's part of a batch shared by ranks: slide i goes to rank i % worldSize. */
export interface SlideShard {
  /** This process's rank, from 0 to worldSize - 1. */
  rank: number
  /** Number of ranks sharing the batch. */
  worldSize: number
}

/** The slides of `inputs`, refused when two of them would write to the same output folder. */
function batchSlides(inputs: string[], out: string): string[] {
  const slides = findSlides(inputs)
  // Outputs go to <out>/<stem>: two slides of one stem (a.svs, a.tif) would overwrite each other.
  const stems = new Map<string, string>()
  for (const slide of slides) {
    const stem = slideStem(slide)
    const other = stems.get(stem)
    if (other !== undefined)
      throw new DataError(
        `${other} and ${slide} would both write their results to ${join(out, stem)}; ` +
          'rename one, or predict them into different --out folders.',
      )
    stems.set(stem, slide)
  }
  return slides
}

const rankFile = (out: string, rank: number) => join(out, `.pcam-rank-${rank}.json`)

/** Whether an output was written by the model of `fingerprint` (any, for a model without one). */
export function byModel(summary: SlideSummary, fingerprint: string | undefined): boolean {
  return fingerprint === undefined || summary.modelFingerprint === fingerprint
}

function anotherModel(dir: string): string {
  return (
    `${dir} holds the results of another model (or of a pcam that did not record it): ` +
    '--overwrite replaces them, or give another --out'
  )
}

/**
 * Predicts every slide (or, with `shard`, this rank's share), one after another, skipping those
 * whose complete output exists unless `overwrite`; a slide that fails is recorded (its message
 * names it) and the batch goes on. Alone, it writes <out>/slides.csv; as a rank, it leaves its
 * failures for collectSlides, which rank 0 calls once every rank is done.
 */
export async function predictSlides(
  inputs: string[],
  model: SlideModel,
  options: SlidePredictOptions & {
    /** Predict again slides whose complete output exists (default: skip them). */
    overwrite?: boolean
    shard?: SlideShard
    onSlideStart?: (slide: string, index: number, total: number) => void
    onSlideDone?: (result: SlideSummary | SlideFailure) => void
    onSlideSkipped?: (summary: SlideSummary) => void
  },
): Promise<BatchResult> {
  const all = batchSlides(inputs, options.out)
  const { shard } = options
  const slides = shard ? all.filter((_, i) => i % shard.worldSize === shard.rank) : all
  await mkdir(options.out, { recursive: true })
  if (shard) await rm(rankFile(options.out, shard.rank), { force: true })
  const results: SlideSummary[] = []
  const failures: SlideFailure[] = []
  for (const [i, slide] of slides.entries()) {
    // An interrupted batch of hundreds of slides picks up where it stopped.
    const dir = join(options.out, slideStem(slide))
    const done = options.overwrite ? null : completeOutput(dir)
    if (done && !byModel(done, model.fingerprint)) {
      const failure = { slide, message: anotherModel(dir) }
      failures.push(failure)
      options.onSlideDone?.(failure)
      continue
    }
    if (done) {
      results.push(done)
      options.onSlideSkipped?.(done)
      continue
    }
    options.onSlideStart?.(slide, i, slides.length)
    try {
      const summary = await predictSlide(slide, model, options)
      results.push(summary)
      options.onSlideDone?.(summary)
    } catch (error) {
      if (!(error instanceof PcamError)) throw error
      const failure = { slide, message: error.message }
      failures.push(failure)
      options.onSlideDone?.(failure)
    }
  }
  if (shard) {
    await writeFile(rankFile(options.out, shard.rank), JSON.stringify({ failures }))
    return { results, failures, missing: [], csv: '' }
  }
  return {
    results,
    failures,
    missing: [],
    csv: await writeSlidesCsv(options.out, results, failures, []),
  }
}

/** Waits until every rank of a shared batch has left its record in `out` (rank 0's part). */
export async function waitForRanks(
  out: string,
  worldSize: number,
  onWait: (missing: number[]) => void,
): Promise<void> {
  let waited = 0
  for (;;) {
    const missing = [...Array(worldSize).keys()].filter((r) => !existsSync(rankFile(out, r)))
    if (missing.length === 0) return
    if (waited % 30 === 0) onWait(missing)
    await sleep(1000)
    waited++
  }
}

/**
 * The batch as the ranks left it: complete outputs, the failures they recorded, and the slides
 * with neither (a rank died before them). Writes <out>/slides.csv with a row for each.
 */
export async function collectSlides(
  inputs: string[],
  out: string,
  worldSize: number,
): Promise<BatchResult> {
  const slides = batchSlides(inputs, out)
  const recorded = new Map<string, string>()
  for (let r = 0; r < worldSize; r++) {
    if (!existsSync(rankFile(out, r))) continue
    const { failures } = JSON.parse(readFileSync(rankFile(out, r), 'utf8')) as {
      failures: SlideFailure[]
    }
    for (const f of failures) recorded.set(f.slide, f.message)
  }
  const results: SlideSummary[] = []
  const failures: SlideFailure[] = []
  const missing: string[] = []
  for (const slide of slides) {
    const done = completeOutput(join(out, slideStem(slide)))
    const message = recorded.get(slide)
    if (done) results.push(done)
    else if (message !== undefined) failures.push({ slide, message })
    else missing.push(slide)
  }
  for (let r = 0; r < worldSize; r++) await rm(rankFile(out, r), { force: true })
  await mkdir(out, { recursive: true }) // the ranks may have died before making it
  return { results, failures, missing, csv: await writeSlidesCsv(out, results, failures, missing) }
}

async function writeSlidesCsv(
  out: string,
  results: SlideSummary[],
  failures: SlideFailure[],
  missing: string[],
): Promise<string> {
  const csv = join(out, 'slides.csv')
  const header = [
    'slide',
    'status',
    'tissue_tiles',
    'max',
    'top_k_mean',
    'tumour_mm2',
    'seconds',
    'message',
  ]
  const rows = [
    ...results.map((r) => [
      r.slide,
      'ok',
      r.tissueTiles,
      r.score.max.toFixed(6),
      r.score.topKMean.toFixed(6),
      r.tumourAreaMm2.toFixed(4),
      r.seconds.toFixed(2),
      r.note ?? '',
    ]),
    ...failures.map((f) => [f.slide, 'failed', '', '', '', '', '', f.message]),
    ...missing.map((m) => [
      m,
      'missing',
      '',
      '',
      '',
      '',
      '',
      'not predicted: its rank stopped first',
    ]),
  ]
  await writeFile(csv, writeCsv(header, rows))
  return csv
}

/** A slide file's facts as OpenSlide reads them (what slideInfo returns). */
export interface SlideInfo {
  /** The slide's path, as given. */
  slide: string
  /** OpenSlide's vendor (openslide.vendor: "aperio", "generic-tiff", ...); null when unknown. */
  vendor: string | null
  /** The pyramid's levels, level 0 (full resolution) first. */
  levels: SlideLevel[]
  /** Resolution of level 0 as slideResolution finds it; null when the slide records none. */
  mpp: {
    /** Micrometres per level-0 pixel, horizontally. */
    x: number
    /** Micrometres per level-0 pixel, vertically. */
    y: number
    /** The properties it came from: "openslide.mpp-x/y" or "tiff.XResolution (<unit>)". */
    from: string
  } | null
  /** Scanner's objective magnification (openslide.objective-power, e.g. 40); null when absent. */
  objectivePower: number | null
  /** The associated images (label, macro, thumbnail, ...) and their sizes. */
  associatedImages: {
    /** OpenSlide's name of the image ("label", "macro", "thumbnail", ...). */
    name: string
    /** Width in pixels. */
    width: number
    /** Height in pixels. */
    height: number
  }[]
  /** Every OpenSlide property of the slide, by name (vendor's and openslide.* ones). */
  properties: Record<string, string>
}

/** What `pcam slide info` prints. */
export async function slideInfo(path: string): Promise<SlideInfo> {
  using slide = await OpenSlide.open(path)
  let mpp: SlideInfo['mpp'] = null
  try {
    const r = slideResolution(path, slide.properties)
    mpp = { x: r.mppX, y: r.mppY, from: r.from }
  } catch (error) {
    if (!(error instanceof DataError)) throw error
  }
  return {
    slide: path,
    vendor: slide.properties['openslide.vendor'] ?? null,
    levels: [...slide.levels],
    mpp,
    objectivePower: objectivePower(slide.properties),
    associatedImages: slide.associatedImages(),
    properties: { ...slide.properties },
  }
}
