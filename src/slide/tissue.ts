/**
 * A slide's thumbnail read in bounded blocks, and its tissue mask: Otsu's threshold on colour
 * saturation (background glass is bright and grey, stained tissue is coloured), then a morphological
 * closing and opening that fill small holes and drop specks.
 * @module
 */
import { maxPool2d, avgPool2d, scope, zeros, type Tensor } from '../torch/index.js'
import { bestLevel, type OpenSlide, type SlideLevel } from '../torch/openslide.js'
import { checkThumbnailRead } from './limits.js'

/** A downsampled image of the whole slide. */
export interface Thumbnail {
  /** H x W x 3 uint8. */
  image: Tensor
  /** Level-0 pixels per thumbnail pixel. */
  downsample: number
}

/** Largest side of thumbnails (tissue mask, overlay). */
export const THUMBNAIL_SIDE = 2048
/** Level pixels read at once while building a thumbnail (bounds memory on any slide). */
const BLOCK = 2048

/** Which level a thumbnail is read from, and the integer factor it is averaged down by. */
export interface ThumbnailPlan {
  level: number
  factor: number
}

/**
 * The finest level no finer than the thumbnail, averaged by the smallest factor that fits
 * `maxSide`; then, if a coarser level gives that same resolution with a whole factor (within 1%),
 * that level instead: a pyramid with levels 4 and 8 apart reads 4x fewer pixels from the 8 than
 * from the 4 averaged by 2, for the same thumbnail.
 */
export function thumbnailPlan(levels: readonly SlideLevel[], maxSide: number): ThumbnailPlan {
  const base = levels[0] as SlideLevel
  const wanted = Math.max(1, Math.max(base.width, base.height) / maxSide)
  const fine = bestLevel(levels, wanted)
  const fineDownsample = (levels[fine] as SlideLevel).downsample
  const fineFactor = Math.max(1, Math.ceil(wanted / fineDownsample - 1e-9))
  const target = fineDownsample * fineFactor
  for (let level = levels.length - 1; level > fine; level--) {
    const { downsample } = levels[level] as SlideLevel
    const factor = Math.max(1, Math.round(target / downsample))
    if (Math.abs(downsample * factor - target) <= 0.01 * target) return { level, factor }
  }
  return { level: fine, factor: fineFactor }
}

/**
 * The slide at about `maxSide` pixels on its longer side (see thumbnailPlan), read in blocks and
 * area-averaged by an integer factor, so memory never holds a whole level. Refused up front when
 * the level read is too large (checkThumbnailRead); stops between blocks when `signal` aborts.
 */
export async function readThumbnail(
  slide: OpenSlide,
  options: { maxSide?: number; name?: string; signal?: AbortSignal } = {},
): Promise<Thumbnail> {
  const { level, factor } = thumbnailPlan(slide.levels, options.maxSide ?? THUMBNAIL_SIDE)
  checkThumbnailRead(options.name ?? slide.path, slide.levels, level)
  const { width, height, downsample } = slide.levels[level] as SlideLevel
  const outW = Math.ceil(width / factor)
  const outH = Math.ceil(height / factor)
  const block = Math.max(factor, Math.floor(BLOCK / factor) * factor)
  const image = zeros([outH, outW, 3], { dtype: 'uint8' })
  try {
    for (let by = 0; by < height; by += block) {
      for (let bx = 0; bx < width; bx += block) {
        options.signal?.throwIfAborted()
        const w = Math.ceil(Math.min(block, width - bx) / factor) * factor
        const h = Math.ceil(Math.min(block, height - by) / factor) * factor
        const region = await slide.readRegion(
          Math.round(bx * downsample),
          Math.round(by * downsample),
          level,
          w,
          h,
        )
        scope(() => {
          const pooled =
            factor === 1
              ? region
              : avgPool2d(region.permute(2, 0, 1).float().unsqueeze(0), factor)
                  .squeeze(0)
                  .permute(1, 2, 0)
                  .round()
                  .to('uint8')
          const [ph, pw] = pooled.shape as [number, number]
          image
            .slice(0, by / factor, by / factor + ph)
            .slice(1, bx / factor, bx / factor + pw)
            .copy_(pooled)
        })
        region.dispose()
      }
    }
  } catch (error) {
    image.dispose()
    throw error
  }
  return { image, downsample: downsample * factor }
}

/** Otsu's threshold of values in [0, 1] over a 256-bin histogram. */
export function otsuThreshold(values: Float32Array): number {
  const histogram = new Float64Array(256)
  for (const v of values) histogram[Math.min(255, Math.max(0, Math.floor(v * 256)))]! += 1
  const total = values.length
  let sumAll = 0
  for (let i = 0; i < 256; i++) sumAll += i * histogram[i]!
  let weightBelow = 0
  let sumBelow = 0
  let best = 0
  let bestVariance = -1
  for (let i = 0; i < 256; i++) {
    weightBelow += histogram[i]!
    if (weightBelow === 0) continue
    const weightAbove = total - weightBelow
    if (weightAbove === 0) break
    sumBelow += i * histogram[i]!
    const meanBelow = sumBelow / weightBelow
    const meanAbove = (sumAll - sumBelow) / weightAbove
    const variance = weightBelow * weightAbove * (meanBelow - meanAbove) ** 2
    if (variance > bestVariance) {
      bestVariance = variance
      best = i
    }
  }
  return (best + 1) / 256
}

/**
 * Saturation below this is never tissue, whatever Otsu says: on a slide of bare glass the
 * threshold would otherwise split noise.
 */
export const MIN_TISSUE_SATURATION = 0.07

export interface TissueMask {
  /** 1 for tissue, 0 for background, row-major height x width. */
  mask: Uint8Array
  width: number
  height: number
  /** Level-0 pixels per mask pixel. */
  downsample: number
  threshold: number
}

/** The tissue mask of a thumbnail (see the module comment); `clean` is the kernel side. */
export function tissueMask(thumbnail: Thumbnail, clean = 5): TissueMask {
  const [height, width] = thumbnail.image.shape as [number, number]
  return scope(() => {
    const x = thumbnail.image.float().div(255)
    const max = x.max(-1)
    const min = x.min(-1)
    const saturation = max.sub(min).div(max.clamp(1e-6, 1))
    // Otsu's histogram is built in JavaScript; the threshold itself stays a tensor op.
    const values = saturation.data() as Float32Array
    const threshold = Math.max(otsuThreshold(values), MIN_TISSUE_SATURATION)
    let m = saturation.gt(threshold).float().reshape(1, 1, height, width)
    const pad = Math.floor(clean / 2)
    const dilate = (t: Tensor) => maxPool2d(t, clean, { stride: 1, padding: pad })
    const erode = (t: Tensor) => dilate(t.neg()).neg()
    m = erode(dilate(m)) // closing: fills holes smaller than the kernel
    m = dilate(erode(m)) // opening: drops specks smaller than the kernel
    const mask = m.reshape(-1).to('uint8').data() as Uint8Array
    return { mask, width, height, downsample: thumbnail.downsample, threshold }
  })
}

/** A mask where everything is tissue (--no-tissue-mask). */
export function fullMask(thumbnail: Thumbnail): TissueMask {
  const [height, width] = thumbnail.image.shape as [number, number]
  return {
    mask: new Uint8Array(width * height).fill(1),
    width,
    height,
    downsample: thumbnail.downsample,
    threshold: 0,
  }
}

/** Share of the square [x, x + size) x [y, y + size) (level-0 pixels) that the mask calls tissue. */
export function tissueFraction(mask: TissueMask, x: number, y: number, size: number): number {
  const d = mask.downsample
  const x0 = Math.max(0, Math.floor(x / d))
  const y0 = Math.max(0, Math.floor(y / d))
  const x1 = Math.min(mask.width, Math.max(x0 + 1, Math.round((x + size) / d)))
  const y1 = Math.min(mask.height, Math.max(y0 + 1, Math.round((y + size) / d)))
  let on = 0
  for (let r = y0; r < y1; r++) for (let c = x0; c < x1; c++) on += mask.mask[r * mask.width + c]!
  const area = (x1 - x0) * (y1 - y0)
  return area > 0 ? on / area : 0
}
