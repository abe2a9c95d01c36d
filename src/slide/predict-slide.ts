/**
 * One slide, end to end: resolution, tissue mask, tile grid, the tile pipeline, and its outputs
 * (tiles.csv, heatmap.png, overlay.png, tissue.png, tumour.geojson, summary.json), written to a
 * partial folder that is renamed into place only when everything is written.
 * @module
 */
import { writeViaPartial } from '../data/out-folder.js'
import { existsSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { basename, extname, join } from 'node:path'
import sharp from 'sharp'
import { readCsv, writeCsv } from '../data/csv.js'
import { DataError } from '../errors.js'
import { OpenSlide } from '../torch/openslide.js'
import { PCAM_VERSION } from '../version.js'
import { SLIDE_FILES } from '../run/slide-files.js'
import { DEFAULT_NMS_RADIUS_UM, detections, type Detection } from './detections.js'
import { tilesGeoJson, tumourGeoJson, type FeatureCollection } from './geojson.js'
import { slideTiling, tissueTiles, type Tile, type TileGrid } from './grid.js'
import { heatmapPng, overlayPng } from './heatmap.js'
import { predictTiles, type TilePredictor } from './pipeline.js'
import type { TileScale } from './resolution.js'
import { fullMask, readThumbnail, tissueMask, type TissueMask } from './tissue.js'

/** What slide prediction needs of a model: its patch size, µm/px, threshold and predictor. */
export interface SlideModel {
  /** Side of the run's training patches in pixels: the size tiles are given to the model at. */
  patchSize: number
  /** µm per pixel of the model's patches. */
  mpp: number
  /** Decision threshold: tiles with a probability at or above it count as tumour. */
  threshold: number
  /** Tumour probabilities of a batch of N x P x P x 3 uint8 tiles. */
  predict: TilePredictor
  /**
   * The weights' fingerprint (modelFingerprint), recorded in summary.json so that results of
   * another model are not taken for this one's; absent for a model not loaded from a run folder.
   */
  fingerprint?: string
}

/** How predictSlide cuts a slide into tiles and where it writes the outputs. */
export interface SlidePredictOptions {
  /** Folder in which the slide's output folder is made. */
  out: string
  /** µm/px of the slide when it records none (or to override it). */
  slideMpp?: number
  /** Step between tiles in model pixels; default the patch size (no overlap). */
  stride?: number
  /** Skip background with the tissue mask (default true). */
  tissueMask?: boolean
  /** Share of a tile that must be tissue (default 0.25). */
  minTissue?: number
  /** Tiles per model batch (default 64). */
  batchSize?: number
  /** Tiles averaged for the slide's top-k score (default 10). */
  topK?: number
  /** Radius of non-maximum suppression for detections.csv, in µm (default 150). */
  nmsRadiusUm?: number
  /** Grid cells a slide may have (default SLIDE_WORK_LIMITS.maxTiles). */
  maxTiles?: number
  /** Folder name of the outputs under `out` (default the slide's file name without extension). */
  outName?: string
  /** How errors name the slide (default its path). */
  name?: string
  /** Stops the work between batches (reads and the model's batch in flight finish first). */
  signal?: AbortSignal
  /** Called after each batch with the tiles predicted so far and the tiles to predict. */
  onProgress?: (done: number, total: number) => void
}

export const DEFAULT_MIN_TISSUE = 0.25
export const DEFAULT_TOP_K = 10

/** A slide's summary.json: the slide, how it was read, its scores and timings. */
export interface SlideSummary {
  /** Path of the slide file. */
  slide: string
  /** Name of the output folder (the slide's file name without extension, unless outName). */
  name: string
  /** The folder the outputs were written to. */
  outDir: string
  /** The scanner vendor OpenSlide reports (openslide.vendor), or null. */
  vendor: string | null
  /** The slide properties used: vendor, µm/px, objective power and TIFF resolution. */
  properties: Record<string, string>
  /** Level-0 size in pixels. */
  width: number
  /** Level-0 height in pixels. */
  height: number
  /** µm per level-0 pixel of the slide (the mean of x and y). */
  mpp: number
  /** Where mpp came from: the OpenSlide or TIFF property, or --slide-mpp. */
  mppFrom: string
  /** The model's fingerprint (SlideModel.fingerprint), null when it had none. */
  modelFingerprint: string | null
  /** µm per pixel of the model's patches. */
  modelMpp: number
  /** The slide level the tiles were read from (0: full resolution). */
  level: number
  /** That level's downsample from level 0. */
  levelDownsample: number
  /** Whether tiles were resized to the model's scale (false: the level read matched it). */
  resampled: boolean
  /** Side of one tile in level-0 pixels (may be fractional). */
  tileSize: number
  /** Step between tiles in level-0 pixels. */
  stride: number
  /** Size of the tile grid over the slide. */
  grid: {
    /** Tiles across the slide. */
    cols: number
    /** Tiles down the slide. */
    rows: number
  }
  /** Cells of the grid (cols x rows), tissue or not. */
  tiles: number
  /** Tiles predicted: those with enough tissue (all of them without the tissue mask). */
  tissueTiles: number
  /** Whether background was skipped with the tissue mask. */
  tissueMask: boolean
  /** The decision threshold used: tiles at or above it count as tumour. */
  threshold: number
  /** The slide-level scores, from the tile probabilities (0 with no tiles). */
  score: {
    /** The highest tile probability. */
    max: number
    /** The mean of the k highest tile probabilities. */
    topKMean: number
    /** The k of topKMean, as asked (fewer tiles are averaged when the slide has fewer). */
    k: number
  }
  /** Predicted tiles with a probability at or above the threshold. */
  tumourTiles: number
  /** Area of the tumour tiles in mm², each counted as one stride x stride cell. */
  tumourAreaMm2: number
  /** Lesion candidates written to detections.csv. */
  detections: number
  /** Radius of the detections' non-maximum suppression, in µm. */
  nmsRadiusUm: number
  /** Wall-clock seconds to mask and predict the slide (writing the outputs not counted). */
  seconds: number
  /** Tissue tiles predicted per second of `seconds`. */
  tilesPerSecond: number
  /** Present when no tissue was found and nothing was predicted. */
  note?: string
  /** The pcam version that wrote the summary. */
  pcamVersion: string
}

/** The folder name of a slide's outputs: its file name without the extension. */
export function slideStem(path: string): string {
  return basename(path, extname(path))
}

// Properties that summary.json records (the ones resolution and reading used, and the vendor's).
const USED = ['openslide.vendor', 'openslide.mpp-x', 'openslide.mpp-y', 'openslide.objective-power']
const USED_PREFIXES = ['tiff.XResolution', 'tiff.YResolution', 'tiff.ResolutionUnit']

function usedProperties(properties: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(properties).filter(([k]) => USED.includes(k) || USED_PREFIXES.includes(k)),
  )
}

function topKMean(probabilities: Float32Array, k: number): number {
  const sorted = Float32Array.from(probabilities).sort().reverse()
  const top = sorted.subarray(0, Math.min(k, sorted.length))
  return top.length ? top.reduce((a, b) => a + b, 0) / top.length : 0
}

/**
 * Predicts one slide and writes its outputs to <out>/<slide stem>/; returns its summary. A path is
 * opened and closed here; an open slide (the server's, already cached) is left open.
 */
export async function predictSlide(
  slide: string | OpenSlide,
  model: SlideModel,
  options: SlidePredictOptions,
): Promise<SlideSummary> {
  if (typeof slide === 'string') {
    using opened = await OpenSlide.open(slide)
    return await predictSlide(opened, model, options)
  }
  const started = performance.now()
  const path = slide.path
  const name = options.outName ?? slideStem(path)
  const outDir = join(options.out, name)
  checkReplaceable(outDir)
  const { resolution, scale, grid } = slideTiling(slide, model, options)
  const { signal } = options
  const thumbnail = await readThumbnail(slide, { name: options.name, signal })
  try {
    const useMask = options.tissueMask !== false
    const mask = useMask ? tissueMask(thumbnail) : fullMask(thumbnail)
    const tiles = tissueTiles(grid, useMask ? mask : null, options.minTissue ?? DEFAULT_MIN_TISSUE)
    const probabilities = await predictTiles(slide, tiles, scale, model.patchSize, model.predict, {
      batchSize: options.batchSize ?? 64,
      onProgress: options.onProgress,
      signal,
    })
    const seconds = (performance.now() - started) / 1000
    const cells = gridProbabilities(grid, tiles, probabilities)
    const nmsRadiusUm = options.nmsRadiusUm ?? DEFAULT_NMS_RADIUS_UM
    const found = detections(cells, grid, resolution.mpp, nmsRadiusUm)
    const tumourTiles = probabilities.filter((p) => p >= model.threshold).length
    const k = options.topK ?? DEFAULT_TOP_K
    const summary: SlideSummary = {
      slide: path,
      name,
      outDir,
      vendor: slide.properties['openslide.vendor'] ?? null,
      properties: usedProperties(slide.properties),
      width: (slide.levels[0] as { width: number }).width,
      height: (slide.levels[0] as { height: number }).height,
      mpp: resolution.mpp,
      mppFrom: resolution.from,
      modelMpp: model.mpp,
      modelFingerprint: model.fingerprint ?? null,
      level: scale.level,
      levelDownsample: (slide.levels[scale.level] as { downsample: number }).downsample,
      resampled: scale.resample,
      tileSize: scale.tileSize0,
      stride: grid.stride0,
      grid: { cols: grid.cols, rows: grid.rows },
      tiles: grid.cols * grid.rows,
      tissueTiles: tiles.length,
      tissueMask: useMask,
      threshold: model.threshold,
      score: {
        // NOTE: a reduce, not Math.max(...p): spreading 100k+ tiles overflows the call stack.
        max: probabilities.reduce((a, b) => Math.max(a, b), 0),
        topKMean: topKMean(probabilities, k),
        k,
      },
      tumourTiles,
      tumourAreaMm2: (tumourTiles * (grid.stride0 * resolution.mpp) ** 2) / 1e6,
      detections: found.length,
      nmsRadiusUm,
      seconds,
      tilesPerSecond: tiles.length / seconds,
      ...(tiles.length === 0 ? { note: `no tissue found in ${path}: nothing to predict` } : {}),
      pcamVersion: PCAM_VERSION,
    }
    await writeOutputs(outDir, {
      summary,
      tiles,
      probabilities,
      cells,
      grid,
      scale,
      mask,
      thumbnail,
      detections: found,
    })
    return summary
  } finally {
    thumbnail.image.dispose()
  }
}

/** Probabilities per grid cell, row-major, NaN where no tile was predicted. */
export function gridProbabilities(
  grid: TileGrid,
  tiles: readonly Tile[],
  probabilities: Float32Array,
): Float32Array {
  const cells = new Float32Array(grid.cols * grid.rows).fill(Number.NaN)
  tiles.forEach((t, i) => {
    cells[t.row * grid.cols + t.col] = probabilities[i] as number
  })
  return cells
}

/** A slide's result as predictSlide wrote it to `dir`, with tiles.csv back on the grid. */
export interface SlideResult {
  summary: SlideSummary
  grid: TileGrid
  /** Probability per grid cell, row-major, NaN where no tile was predicted. */
  cells: Float32Array
  geojson: FeatureCollection
  /** The lesion candidates (detections.csv), highest first. */
  detections: Detection[]
}

/**
 * Reads the outputs predictSlide wrote to `dir` (summary.json, tiles.csv, tumour.geojson,
 * detections.csv).
 */
export function readSlideResult(dir: string): SlideResult {
  const summary = readSlideSummary(dir)
  const grid: TileGrid = {
    ...summary.grid,
    tileSize0: summary.tileSize,
    stride0: summary.stride,
  }
  const rows = readTileRows(dir)
  // x, y were rounded from col * stride0, so rounding back finds the cell.
  const tiles: Tile[] = rows.map(({ x, y }) => ({
    col: Math.round(x / grid.stride0),
    row: Math.round(y / grid.stride0),
    x,
    y,
  }))
  const probabilities = Float32Array.from(rows, (r) => r.probability)
  return {
    summary,
    grid,
    cells: gridProbabilities(grid, tiles, probabilities),
    geojson: JSON.parse(
      readFileSync(join(dir, SLIDE_FILES.tumourGeojson), 'utf8'),
    ) as FeatureCollection,
    detections: readDetections(dir),
  }
}

// The readers of a slide's output folder: this module writes it, so it alone reads it.

/** summary.json of a slide's outputs. */
export function readSlideSummary(dir: string): SlideSummary {
  return JSON.parse(readFileSync(join(dir, SLIDE_FILES.summary), 'utf8')) as SlideSummary
}

/** tiles.csv: each predicted tile's level-0 corner and probability. */
export function readTileRows(dir: string): { x: number; y: number; probability: number }[] {
  const csv = join(dir, SLIDE_FILES.tiles)
  return readCsv(readFileSync(csv, 'utf8'), csv).rows.map(({ fields }) => {
    const [x, y, , , probability] = fields.map(Number) as number[]
    return { x: x as number, y: y as number, probability: probability as number }
  })
}

/** detections.csv, highest first; none for an output of a pcam from before detections. */
export function readDetections(dir: string): Detection[] {
  const csv = join(dir, SLIDE_FILES.detections)
  if (!existsSync(csv)) return []
  return readCsv(readFileSync(csv, 'utf8'), csv).rows.map(({ fields }) => {
    const [x, y, probability] = fields.map(Number) as [number, number, number]
    return { x, y, probability }
  })
}

/**
 * The summary of a complete output in `dir` written by this pcam (its detections.csv is there:
 * the folder was renamed into place whole), or null when the slide must be predicted (again).
 */
export function completeOutput(dir: string): SlideSummary | null {
  if (!existsSync(join(dir, SLIDE_FILES.detections))) return null
  try {
    const summary = readSlideSummary(dir)
    return summary.pcamVersion ? summary : null
  } catch {
    return null
  }
}

// An earlier result of this command may be replaced; any other folder is left alone.
function checkReplaceable(outDir: string): void {
  if (!existsSync(outDir)) return
  const summary = join(outDir, SLIDE_FILES.summary)
  let ours = false
  try {
    ours = existsSync(summary) && 'pcamVersion' in JSON.parse(readFileSync(summary, 'utf8'))
  } catch {
    ours = false // an unreadable summary.json is not ours to delete
  }
  if (!ours)
    throw new DataError(
      `${outDir} exists and was not written by "pcam slide predict"; move it or choose another --out.`,
    )
}

interface Outputs {
  summary: SlideSummary
  tiles: readonly Tile[]
  probabilities: Float32Array
  cells: Float32Array
  grid: TileGrid
  scale: TileScale
  mask: TissueMask
  thumbnail: Awaited<ReturnType<typeof readThumbnail>>
  detections: Detection[]
}

async function writeOutputs(outDir: string, o: Outputs): Promise<void> {
  await writeViaPartial(outDir, 'pcam slide predict', async (partial) => {
    const size = Math.round(o.scale.tileSize0)
    const rows = o.tiles.map((t, i) => [
      t.x,
      t.y,
      size,
      size,
      Number(o.probabilities[i]!.toFixed(6)),
    ])
    await writeFile(
      join(partial, SLIDE_FILES.tiles),
      writeCsv(['x', 'y', 'width', 'height', 'probability'], rows),
    )
    await writeFile(join(partial, SLIDE_FILES.heatmap), await heatmapPng(o.cells, o.grid))
    await writeFile(
      join(partial, SLIDE_FILES.overlay),
      await overlayPng(
        o.thumbnail,
        o.summary.tissueMask ? o.mask : null,
        o.cells,
        o.grid,
        o.summary.threshold,
      ),
    )
    const maskPixels = o.mask.mask.map((v) => v * 255)
    await writeFile(
      join(partial, SLIDE_FILES.tissue),
      await sharp(maskPixels, { raw: { width: o.mask.width, height: o.mask.height, channels: 1 } })
        .png()
        .toBuffer(),
    )
    const geojson = tumourGeoJson(o.cells, o.grid, o.summary.threshold)
    await writeFile(join(partial, SLIDE_FILES.tumourGeojson), JSON.stringify(geojson))
    await writeFile(
      join(partial, SLIDE_FILES.tilesGeojson),
      JSON.stringify(tilesGeoJson(o.tiles, o.probabilities, o.grid.tileSize0)),
    )
    await writeFile(
      join(partial, SLIDE_FILES.detections),
      writeCsv(
        ['x', 'y', 'probability'],
        o.detections.map((d) => [
          Math.round(d.x),
          Math.round(d.y),
          Number(d.probability.toFixed(6)),
        ]),
      ),
    )
    await writeFile(join(partial, SLIDE_FILES.summary), JSON.stringify(o.summary, null, 2))
  })
}
