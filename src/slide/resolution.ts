/**
 * A slide's physical resolution (micrometres per pixel) from its properties, the model's from its
 * run, and the level and scale at which tiles match the model.
 * @module
 */
import { DataError, ValidationError } from '../errors.js'
import { runMpp, type RunConfig } from '../run/run-folder.js'
import { bestLevel, type SlideLevel } from '../torch/openslide.js'

/** A slide's physical resolution, as slideResolution finds it. */
export interface SlideResolution {
  /** Micrometres per level-0 pixel (mean of x and y). */
  mpp: number
  /** Micrometres per level-0 pixel, horizontally. */
  mppX: number
  /** Micrometres per level-0 pixel, vertically. */
  mppY: number
  /** Where it came from: "openslide.mpp-x/y", "tiff.XResolution (centimeter)", "--slide-mpp". */
  from: string
}

/**
 * TIFF resolutions outside this range (µm/px) are writers' placeholders (72 dpi is 353 µm/px,
 * libvips' default 1 px/mm is 1000), not a scanner's: such a slide has no resolution.
 */
export const PLAUSIBLE_MPP = [0.01, 50] as const

function plausible(mpp: number): boolean {
  return mpp >= PLAUSIBLE_MPP[0] && mpp <= PLAUSIBLE_MPP[1]
}

// Micrometres per TIFF resolution unit (TIFF's ResolutionUnit: 2 inch, 3 centimetre).
const UNIT_UM: Record<string, number> = { inch: 25400, centimeter: 10000, '2': 25400, '3': 10000 }

function positive(value: string | undefined): number | undefined {
  const n = Number(value)
  return value !== undefined && Number.isFinite(n) && n > 0 ? n : undefined
}

/** The scanner's objective magnification (openslide.objective-power, e.g. 40); null when absent. */
export function objectivePower(properties: Readonly<Record<string, string>>): number | null {
  return positive(properties['openslide.objective-power']) ?? null
}

/**
 * The slide's µm/px: `override` (--slide-mpp), else openslide.mpp-x/y, else the TIFF resolution
 * tags with a physical unit. Throws a DataError naming --slide-mpp when there is none.
 */
export function slideResolution(
  path: string,
  properties: Readonly<Record<string, string>>,
  override?: number,
): SlideResolution {
  if (override !== undefined)
    return { mpp: override, mppX: override, mppY: override, from: '--slide-mpp' }
  const x = positive(properties['openslide.mpp-x'])
  const y = positive(properties['openslide.mpp-y'])
  if (x !== undefined && y !== undefined)
    return { mpp: (x + y) / 2, mppX: x, mppY: y, from: 'openslide.mpp-x/y' }
  const unit = UNIT_UM[properties['tiff.ResolutionUnit'] ?? '']
  const xres = positive(properties['tiff.XResolution'])
  const yres = positive(properties['tiff.YResolution']) ?? xres
  const mppX = unit !== undefined && xres !== undefined ? unit / xres : Number.NaN
  const mppY = unit !== undefined && yres !== undefined ? unit / yres : Number.NaN
  if (plausible(mppX) && plausible(mppY)) {
    return {
      mpp: (mppX + mppY) / 2,
      mppX,
      mppY,
      from: `tiff.XResolution (${properties['tiff.ResolutionUnit']})`,
    }
  }
  throw new DataError(
    `${path} records no resolution (no openslide.mpp-x, no plausible TIFF resolution in inch or cm); ` +
      'give it with --slide-mpp <µm/px> (e.g. 0.25 for 40x, 0.5 for 20x scans).',
  )
}

/**
 * The run's µm/px: `override` (--model-mpp), else its config's, else 0.972 for runs trained on
 * PCam or Kaggle stores; otherwise a ValidationError naming --model-mpp.
 */
export function modelResolution(config: RunConfig, override?: number): number {
  const mpp = override ?? runMpp(config)
  if (mpp !== undefined) return mpp
  throw new ValidationError(
    'The run does not record the µm/px of its patches (its store was not prepared with --mpp); ' +
      'give it with --model-mpp <µm/px> (PCam and Kaggle patches: 0.972).',
  )
}

/** Relative scale differences below this read the level as it is, without resampling. */
export const SAME_SCALE_TOLERANCE = 0.02

/**
 * A level this much coarser than the model is still read, and enlarged slightly to the model's
 * scale: a 40x scan at 0.25 µm/px has its 4x level at 1.0 µm/px, 3% coarser than PCam's 0.972,
 * and reading it costs a sixteenth of decoding level 0 for the same tiles.
 */
export const MAX_UPSCALE = 0.05

/** The level at which a slide's tiles are read, and how they are scaled to the model's µm/px. */
export interface TileScale {
  /** The level read. */
  level: number
  /** Level-0 pixels per model pixel. */
  factor: number
  /** Pixels of `level` read for one tile (resized to the patch size when resample). */
  readSize: number
  /** Side of one tile in level-0 pixels. */
  tileSize0: number
  /** Whether tiles read at readSize are resized to the patch size (false: read as they are). */
  resample: boolean
}

/**
 * The level and read size at which a patch of `patchSize` model pixels covers the same tissue
 * as the model's patches: the coarsest level at most MAX_UPSCALE coarser than the model, read as
 * it is when its scale matches within SAME_SCALE_TOLERANCE, else read at the size that covers
 * the tile and resized (down, or up by at most MAX_UPSCALE).
 */
export function tileScale(
  levels: readonly SlideLevel[],
  slideMpp: number,
  modelMpp: number,
  patchSize: number,
): TileScale {
  const wanted = modelMpp / slideMpp
  const level = bestLevel(levels, wanted * (1 + MAX_UPSCALE))
  const downsample = (levels[level] as SlideLevel).downsample
  if (Math.abs(downsample / wanted - 1) <= SAME_SCALE_TOLERANCE) {
    return {
      level,
      factor: downsample,
      readSize: patchSize,
      tileSize0: patchSize * downsample,
      resample: false,
    }
  }
  return {
    level,
    factor: wanted,
    readSize: Math.ceil((patchSize * wanted) / downsample),
    tileSize0: patchSize * wanted,
    resample: true,
  }
}
