/**
 * The one-cycle policy (Smith; fastai's fit_one_cycle): the learning rate rises from lrMax/div to
 * lrMax over the first pctStart of training and anneals to lrMax/divFinal, with cosine curves;
 * momentum moves the opposite way (0.95 → 0.85 → 0.95).
 * @module
 */

/** fastai's defaults, each settable. */
export const ONE_CYCLE_DEFAULTS = {
  div: 25,
  divFinal: 1e5,
  pctStart: 0.25,
  moms: [0.95, 0.85, 0.95] as const,
}

/** The one-cycle curve's shape; each left out takes ONE_CYCLE_DEFAULTS. */
export interface OneCycleOptions {
  /** The rate starts at lrMax / div (default 25). */
  div?: number
  /** The rate ends at lrMax / divFinal (default 1e5). */
  divFinal?: number
  /** Fraction of training, 0..1, spent rising to lrMax (default 0.25). */
  pctStart?: number
  /**
   * Momentum (Adam's beta1, SGD's momentum) at the start, at the peak rate and at the end (default
   * 0.95, 0.85, 0.95).
   */
  moms?: readonly [number, number, number]
}

/** Cosine interpolation from start to end as pct goes 0 → 1. */
export function cosineAnneal(start: number, end: number, pct: number): number {
  return end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1)
}

/** Learning rate (scaled to lrMax = 1, multiply by each group's peak) and momentum at pct ∈ [0, 1]. */
export function oneCycleAt(
  pct: number,
  options: OneCycleOptions = {},
): { lrScale: number; mom: number } {
  const { div, divFinal, pctStart, moms } = { ...ONE_CYCLE_DEFAULTS, ...options }
  if (pct < pctStart) {
    const p = pct / pctStart
    return { lrScale: cosineAnneal(1 / div, 1, p), mom: cosineAnneal(moms[0], moms[1], p) }
  }
  const p = (pct - pctStart) / (1 - pctStart)
  return { lrScale: cosineAnneal(1, 1 / divFinal, p), mom: cosineAnneal(moms[1], moms[2], p) }
}

/** Per-group peak rates for a discriminative range: geometric steps from low to high (fastai's even_mults). */
export function spreadLr(lr: number | [number, number], groups: number): number[] {
  if (typeof lr === 'number') return Array(groups).fill(lr)
  const [low, high] = lr
  if (groups === 1) return [high]
  const step = (high / low) ** (1 / (groups - 1))
  return Array.from({ length: groups }, (_, i) => low * step ** i)
}
