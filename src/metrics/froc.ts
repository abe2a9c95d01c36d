/**
 * FROC as Camelyon16's reference evaluation computes it: per slide, the probabilities of false
 * positives and, per lesion, the highest probability of a detection inside it (0 for a missed or
 * isolated-tumour-cell lesion); thresholds at every distinct probability but the lowest; the
 * average false positives per slide against the share of lesions found; sensitivities at 1/4 to 8
 * false positives per slide read off by linear interpolation, and their mean.
 * @module
 */

/** One slide's detections matched against its annotated lesions: the input to froc. */
export interface SlideLesionOutcome {
  /** Probabilities of detections outside every lesion. */
  falsePositives: number[]
  /** Per lesion, isolated-tumour-cell ones included, the best probability of a hit (0: none). */
  lesionHits: number[]
  /** Lesions that count (isolated-tumour-cell lesions excluded). */
  lesions: number
}

export const FROC_RATES = [0.25, 0.5, 1, 2, 4, 8] as const

/** The FROC curve and Camelyon16's lesion-level score, as froc returns them. */
export interface Froc {
  /** Average false positives per slide at each threshold, from the lowest threshold up. */
  fpPerSlide: number[]
  /** Share of counted lesions found at each threshold, in [0, 1], in the order of fpPerSlide. */
  sensitivity: number[]
  /** Sensitivity at each of FROC_RATES. */
  sensitivityAt: Record<string, number>
  /** The mean of sensitivityAt: Camelyon16's lesion-level score. */
  score: number
}

/**
 * np.interp: y at x on the piecewise-linear curve through (xs, ys), xs ascending. Where xs repeats
 * a value, x equal to it takes the last of its ys, as numpy's search does.
 */
function interpolate(x: number, xs: number[], ys: number[]): number {
  if (xs.length === 0) return 0
  if (x < (xs[0] as number)) return ys[0] as number
  let j = 0
  while (j + 1 < xs.length && (xs[j + 1] as number) <= x) j++
  if (x === xs[j] || j + 1 === xs.length) return ys[j] as number
  const [x0, x1, y0, y1] = [xs[j], xs[j + 1], ys[j], ys[j + 1]] as [number, number, number, number]
  return y0 + ((x - x0) * (y1 - y0)) / (x1 - x0)
}

/**
 * The FROC curve over a set of slides: average false positives per slide and lesion sensitivity at
 * every threshold (plus the end point 0, 0), the sensitivities at FROC_RATES and their mean.
 */
export function froc(slides: readonly SlideLesionOutcome[]): Froc {
  const fps = slides.flatMap((s) => s.falsePositives)
  const tps = slides.flatMap((s) => s.lesionHits)
  const lesions = slides.reduce((a, s) => a + s.lesions, 0)
  const thresholds = [...new Set([...fps, ...tps])].sort((a, b) => a - b).slice(1)
  const fpPerSlide: number[] = []
  const sensitivity: number[] = []
  for (const t of thresholds) {
    fpPerSlide.push(fps.filter((p) => p >= t).length / slides.length)
    sensitivity.push(lesions > 0 ? tps.filter((p) => p >= t).length / lesions : 0)
  }
  fpPerSlide.push(0)
  sensitivity.push(0)
  // From the highest threshold down, false positives ascend, as np.interp needs.
  const xs = fpPerSlide.slice().reverse()
  const ys = sensitivity.slice().reverse()
  const sensitivityAt = Object.fromEntries(
    FROC_RATES.map((r) => [String(r), interpolate(r, xs, ys)]),
  )
  const values = Object.values(sensitivityAt)
  return {
    fpPerSlide,
    sensitivity,
    sensitivityAt,
    score: values.reduce((a, b) => a + b, 0) / values.length,
  }
}
