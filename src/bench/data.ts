/**
 * `pcam bench data`: how fast patches are prepared (from JPEG and from TIFF), how fast the loader
 * produces augmented batches, and whether memory stays bounded while preparing.
 * @module
 */
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_TRAIN_AUGMENT, type AugmentOptions } from '../data/augment.js'
import { PatchLoader } from '../data/loader.js'
import { prepareStore } from '../data/prepare.js'
import { PatchStore } from '../data/store.js'

export interface DataBenchOptions {
  jpeg: string
  tiff: string
  batchSize: number
  loaderPatches: number
  onProgress?: (message: string) => void
}

export interface PrepareFigure {
  source: string
  patches: number
  patchesPerSec: number
  rssAtQuarter: number
  rssPeak: number
}

export interface DataBenchResult {
  prepareJpeg: PrepareFigure
  prepareTiff: PrepareFigure
  loader: { augment: string; patchesPerSec: number }[]
}

async function timePrepare(source: string, out: string): Promise<PrepareFigure> {
  let rssAtQuarter = 0
  let rssPeak = process.memoryUsage().rss
  const result = await prepareStore({
    sources: [source],
    out,
    split: null,
    overwrite: true,
    onProgress: ({ done, total }) => {
      const rss = process.memoryUsage().rss
      rssPeak = Math.max(rssPeak, rss)
      if (rssAtQuarter === 0 && done >= total / 4) rssAtQuarter = rss
    },
  })
  return {
    source,
    patches: result.count,
    patchesPerSec: result.count / result.seconds,
    rssAtQuarter,
    rssPeak,
  }
}

function timeLoader(
  store: PatchStore,
  augment: AugmentOptions | null,
  options: DataBenchOptions,
): number {
  const indices = store.indicesOf('train').slice(0, options.loaderPatches)
  const loader = new PatchLoader(store, indices, {
    batchSize: options.batchSize,
    shuffle: true,
    dropLast: true,
    seed: 0,
    normalization: { mean: store.meta.mean, std: store.meta.std },
    augment,
  })
  const started = performance.now()
  let patches = 0
  for (const batch of loader.epoch(0)) {
    patches += batch.x.size(0)
    batch.x.dispose()
    batch.y.dispose()
    batch.indices.dispose()
  }
  loader.dispose()
  return patches / ((performance.now() - started) / 1000)
}

export async function benchData(options: DataBenchOptions): Promise<DataBenchResult> {
  const scratch = join(tmpdir(), `pcam-bench-data-${process.pid}`)
  try {
    options.onProgress?.(`preparing ${options.jpeg}`)
    const prepareJpeg = await timePrepare(options.jpeg, join(scratch, 'jpeg'))
    options.onProgress?.(`preparing ${options.tiff}`)
    const prepareTiff = await timePrepare(options.tiff, join(scratch, 'tiff'))
    const store = PatchStore.open(join(scratch, 'jpeg'))
    const loader = [
      { augment: 'none', options: null },
      { augment: 'dihedral', options: { dihedral: true } },
      { augment: 'dihedral + crop', options: { dihedral: true, cropPadding: 8 } },
      { augment: 'default (dihedral, crop, colour, stain)', options: DEFAULT_TRAIN_AUGMENT },
    ].map(({ augment, options: aug }) => {
      options.onProgress?.(`loader: ${augment}`)
      return { augment, patchesPerSec: timeLoader(store, aug, options) }
    })
    store.dispose()
    return { prepareJpeg, prepareTiff, loader }
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}
