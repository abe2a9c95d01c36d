/**
 * Test-time augmentation: which of the 8 symmetries of the square a prediction averages over,
 * how the command line names them, and how reports describe them.
 * @module
 */
import { ValidationError } from '../errors.js'

/**
 * Test-time augmentation: none (false), the 8 symmetries of the square (true), or a chosen
 * subset of them by index (see dihedral(): 0-3 quarter turns, 4-7 the same after a flip).
 */
export type Tta = boolean | number[]

export function ttaViews(tta: Tta): number[] {
  if (tta === false) return [0]
  if (tta === true) return [0, 1, 2, 3, 4, 5, 6, 7]
  if (
    tta.length === 0 ||
    new Set(tta).size !== tta.length ||
    tta.some((k) => !Number.isInteger(k) || k < 0 || k > 7)
  )
    throw new ValidationError(
      `Expected distinct symmetries in 0..7 for test-time augmentation but received ${tta.join(',')}`,
    )
  return tta
}

/** Reads "--tta" and "--tta-views 0,2,4,6" into a Tta. */
export function ttaFrom(all: boolean, views: string | undefined): Tta {
  if (views === undefined) return all
  return ttaViews(views.split(',').map((v) => Number(v.trim())))
}

/** "8-way" for the full set, "k-way (views ...)" for a subset, "" for none. */
export function describeTta(tta: Tta): string {
  if (tta === false) return ''
  const views = ttaViews(tta)
  return views.length === 8 ? '8-way TTA' : `${views.length}-way TTA (views ${views.join(',')})`
}
