/**
 * pcam bench slide: tiles/s of whole-slide prediction against batch prediction of the same
 * patches already in memory (what reading and tiling cost), and peak resident memory on a slide
 * and on one four times larger (memory must not grow with the slide).
 * @module
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import { DataError, errorFromMessage, type ErrorMessage } from '../errors.js'
import { loadSlideModel, type SlideModelOptions } from '../slide/batch.js'
import type { ComputeRequest } from '../learn/precision.js'
import { slideTiling, tissueTiles } from '../slide/grid.js'
import { readTiles } from '../slide/pipeline.js'
import type { SlideSummary } from '../slide/predict-slide.js'
import { slideResolution } from '../slide/resolution.js'
import type { Tensor } from '../torch/index.js'
import { OpenSlide } from '../torch/openslide.js'

export interface SlideBenchResult {
  slide_tiles_s: number
  predict_patches_s: number
  rss_small_mb: number
  rss_large_mb: number
  tiles: number
  small: { width: number; height: number; tiles: number }
  large: { width: number; height: number; tiles: number }
}

const CHILD = fileURLToPath(new URL('./slide-child.js', import.meta.url))

type Size = { width: number; height: number }

/**
 * Copies of the slide's level 0 as pyramidal TIFFs at its µm/px: `small` 2 x 2 copies of it,
 * `large` 4 x 4 (four times larger). Big enough that what every slide pays once (loading the
 * thumbnail, the model's first batch) does not decide the tiles/s. The source is read once.
 */
async function tiledCopies(
  source: string,
  paths: { small: string; large: string },
): Promise<{ small: Size; large: Size }> {
  using slide = await OpenSlide.open(source)
  const { width, height } = slide.levels[0] as Size
  const mpp = slideResolution(source, slide.properties).mpp
  const region = await slide.readRegion(0, 0, 0, width, height)
  const pixels = Buffer.from(region.data() as Uint8Array)
  region.dispose()
  const tile = { input: pixels, raw: { width, height, channels: 3 as const } }
  const write = async (repeat: number, path: string): Promise<Size> => {
    const composite = []
    for (let r = 0; r < repeat; r++)
      for (let c = 0; c < repeat; c++) composite.push({ ...tile, left: c * width, top: r * height })
    const size = { width: width * repeat, height: height * repeat }
    await sharp({ create: { ...size, channels: 3, background: '#ffffff' } })
      .composite(composite)
      .tiff({
        tile: true,
        pyramid: true,
        compression: 'jpeg',
        quality: 90,
        xres: 1000 / mpp,
        yres: 1000 / mpp,
        resolutionUnit: 'cm',
      })
      .toFile(path)
    return size
  }
  return { small: await write(2, paths.small), large: await write(4, paths.large) }
}

/** The error slide-child.ts reported on its last stderr line, if it got that far. */
function childError(stderr: string): ErrorMessage | null {
  try {
    const last = JSON.parse(stderr.trim().split('\n').pop() ?? '') as { error?: ErrorMessage }
    return last.error ?? null
  } catch {
    return null // a crash, not a reported error
  }
}

function predictInChild(
  run: string,
  slide: string,
  out: string,
  load: SlideModelOptions,
): { summary: SlideSummary; maxRssMb: number } {
  const child = spawnSync(
    process.execPath,
    [CHILD, JSON.stringify({ run, slide, out, tissueMask: false, load })],
    { encoding: 'utf8' },
  )
  if (child.status !== 0) {
    const reported = childError(child.stderr)
    if (reported) throw errorFromMessage(reported)
    throw new DataError(`Slide prediction of ${slide} failed: ${child.stderr.trim()}`)
  }
  return JSON.parse(child.stdout.trim().split('\n').pop() as string)
}

/** Batch prediction of the large slide's tiles, read beforehand: patches/s of the model alone. */
async function predictAlone(
  run: string,
  slide: string,
  batchSize: number,
  load: SlideModelOptions,
): Promise<number> {
  const model = await loadSlideModel(run, load)
  try {
    using s = await OpenSlide.open(slide)
    const { scale, grid } = slideTiling(s, model)
    const tiles = tissueTiles(grid, null, 0)
    const batches: Tensor[] = []
    for (let i = 0; i < tiles.length; i += batchSize)
      batches.push(await readTiles(s, tiles.slice(i, i + batchSize), scale, model.patchSize))
    const started = performance.now()
    for (const b of batches) await model.predict(b)
    const seconds = (performance.now() - started) / 1000
    for (const b of batches) b.dispose()
    return tiles.length / seconds
  } finally {
    model.dispose()
  }
}

/** Runs the benchmark on copies of `source` (2 x 2 and 4 x 4) predicted with `run`. */
export async function benchSlide(
  options: {
    run: string
    source: string
    /** µm/px of the run's patches when the run records none (slide predict's --model-mpp). */
    modelMpp?: number
  } & ComputeRequest,
): Promise<SlideBenchResult> {
  const load = { modelMpp: options.modelMpp, precision: options.precision, device: options.device }
  const dir = mkdtempSync(join(tmpdir(), 'pcam-bench-slide-'))
  try {
    const small = join(dir, 'small.tif')
    const large = join(dir, 'large.tif')
    const sizes = await tiledCopies(options.source, { small, large })
    const a = predictInChild(options.run, small, join(dir, 'out'), load)
    const b = predictInChild(options.run, large, join(dir, 'out'), load)
    const predict = await predictAlone(options.run, large, 64, load)
    return {
      slide_tiles_s: b.summary.tilesPerSecond,
      predict_patches_s: predict,
      rss_small_mb: a.maxRssMb,
      rss_large_mb: b.maxRssMb,
      tiles: b.summary.tissueTiles,
      small: { ...sizes.small, tiles: a.summary.tissueTiles },
      large: { ...sizes.large, tiles: b.summary.tissueTiles },
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
