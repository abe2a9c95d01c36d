/**
 * The tile pipeline: tiles are read in batches on OpenSlide's worker threads while the model
 * predicts the batch before, so reading overlaps inference and at most two batches are in memory.
 * @module
 */
import { stack, interpolate, scope, type Tensor } from '../torch/index.js'
import type { OpenSlide } from '../torch/openslide.js'
import type { Tile } from './grid.js'
import type { TileScale } from './resolution.js'

/**
 * Probabilities of a batch of patches (N x P x P x 3 uint8): where an inference engine plugs in
 * (a PatchPredictor in a CLI process, the model worker in the server).
 */
export type TilePredictor = (images: Tensor) => Float32Array | Promise<Float32Array>

/**
 * Runs of tiles next to each other in a row, each read as one strip: one OpenSlide call and one
 * decode of the slide's own tiles per run instead of per tile.
 */
function rowRuns(tiles: readonly Tile[]): Tile[][] {
  const runs: Tile[][] = []
  for (const t of tiles) {
    const run = runs.at(-1)
    const prev = run?.at(-1)
    if (prev !== undefined && prev.row === t.row && prev.col + 1 === t.col) run!.push(t)
    else runs.push([t])
  }
  return runs
}

/**
 * The level pixel nearest level-0 coordinate `x`: where a tile starts in the level read. Tiles
 * are rarely a whole number of level pixels apart (187 level-0 pixels on a 0.5 µm/px scan read
 * at 2x), so each is cut at the level pixel within half a level pixel of its own position.
 */
export function levelPixel(x: number, downsample: number): number {
  return Math.round(x / downsample)
}

/**
 * The level-0 coordinate OpenSlide is asked for to read from level pixel `p`: on a whole level
 * pixel, because a read between level pixels makes OpenSlide (through cairo) resample every
 * pixel bilinearly, 2.5 times slower than a plain copy and a half-pixel blur.
 */
export function readOrigin(p: number, downsample: number): number {
  return Math.round(p * downsample)
}

/** Reads the tiles as one N x P x P x 3 uint8 batch at the model's scale. */
export async function readTiles(
  slide: OpenSlide,
  tiles: readonly Tile[],
  scale: TileScale,
  patchSize: number,
): Promise<Tensor> {
  const downsample = (slide.levels[scale.level] as { downsample: number }).downsample
  const at = (x: number) => levelPixel(x, downsample)
  const runs = rowRuns(tiles)
  const strips = await Promise.all(
    runs.map((run) => {
      const first = run[0] as Tile
      const width = at((run.at(-1) as Tile).x) - at(first.x) + scale.readSize
      const [x, y] = [readOrigin(at(first.x), downsample), readOrigin(at(first.y), downsample)]
      return slide.readRegion(x, y, scale.level, width, scale.readSize)
    }),
  )
  return scope(() => {
    const views = runs.flatMap((run, i) =>
      run.map((t) => {
        const offset = at(t.x) - at((run[0] as Tile).x)
        return (strips[i] as Tensor).slice(1, offset, offset + scale.readSize)
      }),
    )
    const batch = stack(views, 0)
    for (const s of strips) s.dispose()
    if (!scale.resample) return batch
    const x = batch.permute(0, 3, 1, 2).float()
    return interpolate(x, patchSize, { mode: 'bilinear' })
      .round()
      .clamp(0, 255)
      .to('uint8')
      .permute(0, 2, 3, 1)
      .contiguous()
  })
}

export interface PipelineOptions {
  batchSize: number
  onProgress?: (done: number, total: number) => void
  /** Checked before each batch: an aborted signal stops the work with its reason. */
  signal?: AbortSignal
}

/** Probabilities of `tiles`, in order. */
export async function predictTiles(
  slide: OpenSlide,
  tiles: readonly Tile[],
  scale: TileScale,
  patchSize: number,
  predict: TilePredictor,
  options: PipelineOptions,
): Promise<Float32Array> {
  const { batchSize } = options
  const out = new Float32Array(tiles.length)
  const read = (start: number) =>
    readTiles(slide, tiles.slice(start, start + batchSize), scale, patchSize)
  let next: Promise<Tensor> | null = tiles.length > 0 ? read(0) : null
  for (let start = 0; next !== null; start += batchSize) {
    const images: Tensor = await next
    if (options.signal?.aborted) {
      images.dispose()
      options.signal.throwIfAborted()
    }
    next = start + batchSize < tiles.length ? read(start + batchSize) : null
    // NOTE: if prediction throws, the read in flight must not become an unhandled rejection.
    next?.catch(() => undefined)
    try {
      out.set(await predict(images), start)
    } catch (error) {
      next?.then((t) => t.dispose())
      throw error
    } finally {
      images.dispose()
    }
    options.onProgress?.(Math.min(start + batchSize, tiles.length), tiles.length)
  }
  return out
}
