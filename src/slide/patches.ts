/**
 * A patch source from annotated slides, for `pcam data prepare <slides...> --annotations <dir>`.
 * Patches are cut on a grid at the model's µm/px (the level choice and resampling of slide
 * prediction) and labelled by PCam's rule: tumour when their centre region holds at least one
 * tumour pixel (tumour annotations minus exclusions), normal when it touches neither tumour nor an
 * exclusion; only tiles with tissue (the tissue mask) are kept. A slide without annotations gives
 * normal patches only when a `slide,label` CSV says it is normal. Per slide and class at most
 * `perSlide` patches are drawn (seeded); `balance` evens the classes; `hardNegatives` adds, from an
 * earlier `slide predict` of the same slides, tiles at or above its threshold outside tumour.
 * Planning reads only the thumbnails; pixels are read slide by slide as the store is written.
 * @module
 */
import { existsSync } from 'node:fs'
import { basename, extname, join } from 'node:path'
import { seededRandom, shuffle } from '../data/split.js'
import type { PatchItem, Problem, Source } from '../data/sources/source.js'
import { DataError } from '../errors.js'
import { OpenSlide } from '../torch/openslide.js'
import {
  annotationFileFor,
  checkInsideSlide,
  insideRegion,
  parseClassMap,
  readAnnotations,
  readSlideLabels,
  slideLabel,
  DEFAULT_CLASSES,
  type AnnotationClass,
  type Region,
} from './annotations.js'
import { findSlides } from './batch.js'
import { slideTiling, tileAt, type Tile, type TileGrid } from './grid.js'
import { readTiles } from './pipeline.js'
import { readSlideSummary, readTileRows } from './predict-slide.js'
import { SLIDE_FILES } from '../run/slide-files.js'
import type { TileScale } from './resolution.js'
import { readThumbnail, tissueFraction, tissueMask } from './tissue.js'

/** How patches are cut from annotated slides for a patch store. */
export interface SlidePatchOptions {
  /** Slide files or folders of them. */
  slides: string[]
  /** Folder of annotation files named like the slides. */
  annotations?: string
  /** CSV "slide,label": slides without annotations that are normal (0). */
  labels?: string
  /** Annotation class names (lower-cased) to kinds (default DEFAULT_CLASSES). */
  classes?: Map<string, AnnotationClass>
  /** µm/px of the patches (default 0.972, PCam's). */
  mpp?: number
  /** Patch side in pixels (default 96). */
  size?: number
  /** Side of the centre region that decides the label (default 32, PCam's). */
  centre?: number
  /** Grid step in patch pixels (default: the patch size). */
  stride?: number
  /** Most patches per slide and class (default 1000). */
  perSlide?: number
  /** Draw as many normal patches as tumour ones overall. */
  balance?: boolean
  /** Seed of the random draws of patches (default 42): the same seed gives the same patches. */
  seed?: number
  /** Share of a patch that must be tissue (default 0.25). */
  minTissue?: number
  /** A `slide predict` output of the same slides: its false-positive tiles become normal patches. */
  hardNegatives?: string
}

export const SLIDE_PATCH_DEFAULTS = {
  mpp: 0.972,
  size: 96,
  centre: 32,
  perSlide: 1000,
  minTissue: 0.25,
}

interface Planned {
  path: string
  stem: string
  scale: TileScale
  /** In reading order (row by row), so that neighbours are read as one strip. */
  patches: { tile: Tile; label: 0 | 1; hard?: true }[]
}

/** Whether the square [x0, x0 + side)² touches the area of `regions` of `kind`, to `step`. */
function touches(
  regions: readonly Region[],
  x0: number,
  y0: number,
  side: number,
  step: number,
  kind: AnnotationClass,
) {
  return sample(x0, y0, side, step, (x, y) =>
    regions.some((r) => r.kind === kind && insideRegion(r, x, y)),
  )
}

/**
 * Whether `test` holds at one of the square's pixel centres (pixels of `step` level-0 pixels):
 * the square's own bounding box decides first, so most squares cost one comparison per region.
 */
function sample(
  x0: number,
  y0: number,
  side: number,
  step: number,
  test: (x: number, y: number) => boolean,
) {
  const n = Math.max(1, Math.round(side / step))
  for (let j = 0; j < n; j++)
    for (let i = 0; i < n; i++) if (test(x0 + (i + 0.5) * step, y0 + (j + 0.5) * step)) return true
  return false
}

type Box = [number, number, number, number]
// Each region's box is computed once, not once per tile of the slide (thousands of vertices each).
const boxes = new WeakMap<Region, Box>()
function bounds(region: Region): Box {
  const known = boxes.get(region)
  if (known) return known
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity]
  for (const [x, y] of region.outer) {
    x0 = Math.min(x0, x)
    y0 = Math.min(y0, y)
    x1 = Math.max(x1, x)
    y1 = Math.max(y1, y)
  }
  const box: Box = [x0, y0, x1, y1]
  boxes.set(region, box)
  return box
}

/**
 * PCam's label of the tile: 1 when its centre region holds tumour (and no exclusion covers that
 * pixel), 0 when the centre touches neither tumour nor an exclusion, null (not used) otherwise.
 */
function centreLabel(
  regions: readonly Region[],
  tile: Tile,
  grid: TileGrid,
  centre0: number,
  step0: number,
): 0 | 1 | null {
  const x0 = tile.x + (grid.tileSize0 - centre0) / 2
  const y0 = tile.y + (grid.tileSize0 - centre0) / 2
  const near = regions.filter((r) => {
    const [bx0, by0, bx1, by1] = bounds(r)
    return bx1 >= x0 && by1 >= y0 && bx0 <= x0 + centre0 && by0 <= y0 + centre0
  })
  if (near.length === 0) return 0
  const tumour = sample(x0, y0, centre0, step0, (x, y) => {
    let inTumour = false
    for (const r of near) {
      if (r.kind === 'exclude' && insideRegion(r, x, y)) return false
      if (r.kind === 'tumour' && insideRegion(r, x, y)) inTumour = true
    }
    return inTumour
  })
  if (tumour) return 1
  return touches(near, x0, y0, centre0, step0, 'tumour') ||
    touches(near, x0, y0, centre0, step0, 'exclude')
    ? null
    : 0
}

/** Tiles of an earlier prediction at or above its threshold: candidates for hard negatives. */
function falsePositiveCandidates(maps: string, stem: string): { x: number; y: number }[] {
  const dir = join(maps, stem)
  if (!existsSync(join(dir, SLIDE_FILES.tiles)) || !existsSync(join(dir, SLIDE_FILES.summary)))
    return []
  const { threshold } = readSlideSummary(dir)
  return readTileRows(dir).filter((t) => t.probability >= threshold)
}

async function planSlide(
  path: string,
  index: number,
  options: SlidePatchOptions,
  classes: Map<string, AnnotationClass>,
  labels: Map<string, number>,
  problems: Problem[],
): Promise<Planned | null> {
  const file = basename(path)
  const stem = basename(file, extname(file))
  const size = options.size ?? SLIDE_PATCH_DEFAULTS.size
  using slide = await OpenSlide.open(path)
  const annotationFile = options.annotations ? annotationFileFor(path, options.annotations) : null
  let regions: Region[] = []
  if (annotationFile) {
    const annotations = readAnnotations(annotationFile, classes)
    const { width, height } = slide.levels[0] as { width: number; height: number }
    checkInsideSlide(annotations, width, height)
    regions = annotations.regions
  } else {
    const label = slideLabel(labels, file)
    if (label !== 0) {
      problems.push({
        location: path,
        reason:
          label === 1
            ? '--labels says tumour, but without annotations its tumour cannot be located'
            : `unlabelled: no annotations (${stem}.geojson, .json or .xml) and no "${file},0" row in --labels`,
      })
      return null
    }
  }
  const model = { mpp: options.mpp ?? SLIDE_PATCH_DEFAULTS.mpp, patchSize: size }
  const { scale, grid } = slideTiling(slide, model, { stride: options.stride ?? size, name: path })
  const thumbnail = await readThumbnail(slide, { name: path })
  const mask = tissueMask(thumbnail)
  thumbnail.image.dispose()
  const minTissue = options.minTissue ?? SLIDE_PATCH_DEFAULTS.minTissue
  const centre0 = (options.centre ?? SLIDE_PATCH_DEFAULTS.centre) * scale.factor
  const candidates: [Tile[], Tile[]] = [[], []]
  for (let row = 0; row < grid.rows; row++)
    for (let col = 0; col < grid.cols; col++) {
      const tile = tileAt(grid, col, row)
      if (tissueFraction(mask, tile.x, tile.y, grid.tileSize0) < minTissue) continue
      const label = centreLabel(regions, tile, grid, centre0, scale.factor)
      if (label !== null) candidates[label].push(tile)
    }
  const random = seededRandom((options.seed ?? 42) + index * 7919)
  const perSlide = options.perSlide ?? SLIDE_PATCH_DEFAULTS.perSlide
  const patches: Planned['patches'] = [
    ...shuffle(candidates[1], random)
      .slice(0, perSlide)
      .map((tile) => ({ tile, label: 1 as const })),
    ...shuffle(candidates[0], random)
      .slice(0, perSlide)
      .map((tile) => ({ tile, label: 0 as const })),
  ]
  if (options.hardNegatives) {
    const taken = new Set(patches.map((p) => `${p.tile.x},${p.tile.y}`))
    const hard = falsePositiveCandidates(options.hardNegatives, stem)
      .map(({ x, y }) => ({
        col: Math.round(x / grid.stride0),
        row: Math.round(y / grid.stride0),
        x: Math.round(x),
        y: Math.round(y),
      }))
      .filter(
        (t) =>
          !taken.has(`${t.x},${t.y}`) && centreLabel(regions, t, grid, centre0, scale.factor) === 0,
      )
    for (const tile of shuffle(hard, random).slice(0, perSlide))
      patches.push({ tile, label: 0, hard: true })
  }
  patches.sort((a, b) => a.tile.y - b.tile.y || a.tile.x - b.tile.x)
  return { path, stem, scale, patches }
}

/** The source `pcam data prepare` writes a store from (see the module's description). */
export async function slidePatchSource(options: SlidePatchOptions): Promise<Source> {
  const slides = findSlides(options.slides)
  const classes = options.classes ?? parseClassMap(DEFAULT_CLASSES)
  const labels = options.labels ? readSlideLabels(options.labels) : new Map<string, number>()
  const problems: Problem[] = []
  const plans: Planned[] = []
  for (const [i, path] of slides.entries()) {
    try {
      const plan = await planSlide(path, i, options, classes, labels, problems)
      if (plan) plans.push(plan)
    } catch (error) {
      if (!(error instanceof DataError)) throw error
      problems.push({ location: path, reason: error.message })
    }
  }
  if (options.balance) {
    // Grid normals are dropped (seeded) until the classes are even; hard negatives are kept.
    const count = (label: number) =>
      plans.reduce((a, p) => a + p.patches.filter((q) => q.label === label).length, 0)
    const random = seededRandom((options.seed ?? 42) + 1)
    let excess = count(0) - count(1)
    for (const plan of shuffle(plans, random)) {
      if (excess <= 0) break
      const normals = plan.patches.filter((p) => p.label === 0 && !p.hard)
      const drop = new Set(shuffle(normals, random).slice(0, excess))
      excess -= drop.size
      plan.patches = plan.patches.filter((p) => !drop.has(p))
    }
  }
  const size = options.size ?? SLIDE_PATCH_DEFAULTS.size
  const total = plans.reduce((a, p) => a + p.patches.length, 0)
  return {
    kind: 'slides',
    description: `${slides.length} slides (${plans.length} usable) with ${options.annotations ? `annotations in ${basename(options.annotations)}` : 'labels'}`,
    classes: ['0', '1'],
    count: total,
    problems,
    async *read(): AsyncGenerator<PatchItem> {
      for (const plan of plans) {
        using slide = await OpenSlide.open(plan.path)
        for (let start = 0; start < plan.patches.length; start += 64) {
          const batch = plan.patches.slice(start, start + 64)
          const images = await readTiles(
            slide,
            batch.map((p) => p.tile),
            plan.scale,
            size,
          )
          const pixels = images.data() as Uint8Array
          images.dispose()
          for (const [k, { tile, label }] of batch.entries()) {
            yield {
              id: `${plan.stem}_${tile.x}_${tile.y}`,
              label,
              split: null,
              slide: plan.stem,
              location: `${plan.path} at (${tile.x}, ${tile.y})`,
              pixels: pixels.subarray(k * size * size * 3, (k + 1) * size * size * 3),
              height: size,
              width: size,
            }
          }
        }
      }
    },
    close: async () => {},
  }
}
