/**
 * Lesions as Camelyon16's evaluation defines them. The tumour annotations (exclusions removed)
 * are drawn into a mask of about 7.8 µm per pixel (the reference code's level 5 of 0.243 µm/px
 * scans), grown by 37.5 µm on every side (the 75 µm distance threshold, five tumour cells), holes
 * filled, and cut into 8-connected lesions. A lesion whose longest axis (skimage's
 * major_axis_length) is under 275 µm is an isolated-tumour-cell lesion: neither hit nor missed.
 * @module
 */
import type { Region, Ring } from './annotations.js'

/** Mask pixel size of the reference evaluation: level 5 of a 0.243 µm/px scan. */
export const EVALUATION_PIXEL_UM = 0.243 * 32
/** Half the 75 µm distance threshold: the annotation grows this much on every side. */
export const EXPANSION_UM = 37.5
/** Lesions shorter than this along their longest axis are isolated tumour cells. */
export const ITC_AXIS_UM = 275

/** A slide's lesions, numbered on a coarse mask of the slide (see lesionMap). */
export interface LesionMap {
  /** Lesion number per mask pixel (0: none), row-major. */
  labels: Int32Array
  /** Mask width in mask pixels (the slide's level-0 width / downsample, rounded up). */
  width: number
  /** Mask height in mask pixels (the slide's level-0 height / downsample, rounded up). */
  height: number
  /** Level-0 pixels per mask pixel. */
  downsample: number
  /** Lesions, numbered 1.. (index + 1): whether each is an isolated-tumour-cell lesion. */
  itc: boolean[]
  /** Major axis of each lesion in µm. */
  axisUm: number[]
}

/** The power of two nearest to EVALUATION_PIXEL_UM / mpp: 32 for a 0.243 µm/px scan. */
export function evaluationDownsample(mpp: number): number {
  return 2 ** Math.max(0, Math.round(Math.log2(EVALUATION_PIXEL_UM / mpp)))
}

/**
 * Fills the rings (even-odd) into `mask` with `value`, testing each mask pixel at its centre:
 * pixel (i, j) covers level-0 [i, i + 1) x [j, j + 1) times the downsample.
 */
function fill(
  mask: Uint8Array,
  width: number,
  height: number,
  downsample: number,
  rings: Ring[],
  value: number,
) {
  let [top, bottom] = [Infinity, -Infinity]
  for (const ring of rings)
    for (const [, y] of ring) {
      top = Math.min(top, y)
      bottom = Math.max(bottom, y)
    }
  const firstRow = Math.max(0, Math.floor(top / downsample - 0.5))
  const lastRow = Math.min(height - 1, Math.ceil(bottom / downsample))
  const crossings: number[] = []
  for (let j = firstRow; j <= lastRow; j++) {
    const y = (j + 0.5) * downsample
    crossings.length = 0
    for (const ring of rings)
      for (let a = 0, b = ring.length - 1; a < ring.length; b = a++) {
        const [xa, ya] = ring[a] as [number, number]
        const [xb, yb] = ring[b] as [number, number]
        if (ya > y !== yb > y) crossings.push(xa + ((y - ya) * (xb - xa)) / (yb - ya))
      }
    crossings.sort((p, q) => p - q)
    for (let k = 0; k + 1 < crossings.length; k += 2) {
      // Pixels whose centre lies between the two crossings.
      const from = Math.max(0, Math.ceil((crossings[k] as number) / downsample - 0.5))
      const to = Math.min(width - 1, Math.floor((crossings[k + 1] as number) / downsample - 0.5))
      for (let i = from; i <= to; i++) mask[j * width + i] = value
    }
  }
}

/** Tumour regions minus exclusions, as a mask of the slide at `downsample`. */
export function tumourMask(
  regions: readonly Region[],
  slideWidth: number,
  slideHeight: number,
  downsample: number,
): { mask: Uint8Array; width: number; height: number } {
  const width = Math.ceil(slideWidth / downsample)
  const height = Math.ceil(slideHeight / downsample)
  const mask = new Uint8Array(width * height)
  for (const r of regions.filter((r) => r.kind === 'tumour'))
    fill(mask, width, height, downsample, [r.outer, ...r.holes], 1)
  for (const r of regions.filter((r) => r.kind === 'exclude'))
    fill(mask, width, height, downsample, [r.outer, ...r.holes], 0)
  return { mask, width, height }
}

/** Squared Euclidean distance to the nearest set pixel (Felzenszwalb and Huttenlocher). */
export function squaredDistance(mask: Uint8Array, width: number, height: number): Float64Array {
  const INF = 1e20
  const out = new Float64Array(width * height)
  for (let i = 0; i < out.length; i++) out[i] = mask[i] ? 0 : INF
  const line = (get: (k: number) => number, set: (k: number, v: number) => void, n: number) => {
    const f = new Float64Array(n)
    for (let q = 0; q < n; q++) f[q] = get(q)
    const v = new Int32Array(n)
    const z = new Float64Array(n + 1)
    let k = 0
    z[0] = -Infinity
    z[1] = Infinity
    for (let q = 1; q < n; q++) {
      let s = 0
      for (;;) {
        const p = v[k] as number
        s = ((f[q] as number) + q * q - ((f[p] as number) + p * p)) / (2 * q - 2 * p)
        if (s > (z[k] as number)) break
        k--
      }
      k++
      v[k] = q
      z[k] = s
      z[k + 1] = Infinity
    }
    k = 0
    for (let q = 0; q < n; q++) {
      while ((z[k + 1] as number) < q) k++
      const p = v[k] as number
      set(q, (q - p) * (q - p) + (f[p] as number))
    }
  }
  for (let x = 0; x < width; x++)
    line(
      (k) => out[k * width + x] as number,
      (k, v) => (out[k * width + x] = v),
      height,
    )
  for (let y = 0; y < height; y++)
    line(
      (k) => out[y * width + k] as number,
      (k, v) => (out[y * width + k] = v),
      width,
    )
  return out
}

/** Sets every background pixel not 4-connected to the border (scipy's binary_fill_holes). */
function fillHoles(mask: Uint8Array, width: number, height: number): void {
  const outside = new Uint8Array(mask.length)
  const stack: number[] = []
  const push = (i: number) => {
    if (!mask[i] && !outside[i]) {
      outside[i] = 1
      stack.push(i)
    }
  }
  for (let x = 0; x < width; x++) {
    push(x)
    push((height - 1) * width + x)
  }
  for (let y = 0; y < height; y++) {
    push(y * width)
    push(y * width + width - 1)
  }
  while (stack.length > 0) {
    const i = stack.pop() as number
    const x = i % width
    if (x > 0) push(i - 1)
    if (x < width - 1) push(i + 1)
    if (i >= width) push(i - width)
    if (i < (height - 1) * width) push(i + width)
  }
  for (let i = 0; i < mask.length; i++) if (!outside[i]) mask[i] = 1
}

/** 8-connected components of the mask, numbered 1.. in raster order of their first pixel. */
function label(
  mask: Uint8Array,
  width: number,
  height: number,
): { labels: Int32Array; count: number } {
  const labels = new Int32Array(mask.length)
  let count = 0
  const stack: number[] = []
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue
    count++
    labels[start] = count
    stack.push(start)
    while (stack.length > 0) {
      const i = stack.pop() as number
      const x = i % width
      const y = (i - x) / width
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx
          const ny = y + dy
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue
          const n = ny * width + nx
          if (mask[n] && !labels[n]) {
            labels[n] = count
            stack.push(n)
          }
        }
    }
  }
  return { labels, count }
}

/**
 * The lesions of a slide of `slideWidth` x `slideHeight` level-0 pixels at `mpp` µm/px, from its
 * annotations; `downsample` defaults to evaluationDownsample(mpp).
 */
export function lesionMap(
  regions: readonly Region[],
  slideWidth: number,
  slideHeight: number,
  mpp: number,
  downsample = evaluationDownsample(mpp),
): LesionMap {
  const { mask, width, height } = tumourMask(regions, slideWidth, slideHeight, downsample)
  const pixelUm = mpp * downsample
  const reach = EXPANSION_UM / pixelUm
  const distance = squaredDistance(mask, width, height)
  const grown = new Uint8Array(mask.length)
  for (let i = 0; i < grown.length; i++) grown[i] = (distance[i] as number) < reach * reach ? 1 : 0
  fillHoles(grown, width, height)
  const { labels, count } = label(grown, width, height)
  // Second moments per lesion: skimage's major_axis_length is 4 sqrt of the larger eigenvalue.
  const sums = new Float64Array(count * 6) // n, sx, sy, sxx, syy, sxy
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i] as number
    if (!l) continue
    const x = i % width
    const y = (i - x) / width
    const at = (l - 1) * 6
    sums[at]! += 1
    sums[at + 1]! += x
    sums[at + 2]! += y
    sums[at + 3]! += x * x
    sums[at + 4]! += y * y
    sums[at + 5]! += x * y
  }
  const axisUm: number[] = []
  for (let l = 0; l < count; l++) {
    const [n, sx, sy, sxx, syy, sxy] = sums.subarray(l * 6, l * 6 + 6) as unknown as number[]
    const mx = sx! / n!
    const my = sy! / n!
    const a = sxx! / n! - mx * mx
    const c = syy! / n! - my * my
    const b = sxy! / n! - mx * my
    const largest = (a + c) / 2 + Math.sqrt(((a - c) / 2) ** 2 + b * b)
    axisUm.push(4 * Math.sqrt(Math.max(0, largest)) * pixelUm)
  }
  return {
    labels,
    width,
    height,
    downsample,
    itc: axisUm.map((axis) => axis < ITC_AXIS_UM),
    axisUm,
  }
}

/** The lesion (1..) under level-0 point (x, y), 0 for none; as the reference, int(x / 2^level). */
export function lesionAt(map: LesionMap, x: number, y: number): number {
  const i = Math.floor(x / map.downsample)
  const j = Math.floor(y / map.downsample)
  if (i < 0 || j < 0 || i >= map.width || j >= map.height) return 0
  return map.labels[j * map.width + i] as number
}
