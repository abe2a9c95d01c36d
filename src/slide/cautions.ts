/**
 * Cautions about a slide before its map is trusted: what its properties say about whether the
 * model has seen tissue at this scale, from such a scanner, or whether the scale itself is
 * believable. The viewer shows them above the slide; they never stop a prediction.
 * @module
 */

/** What a slide says about itself (OpenSlide's properties, resolved). */
export interface SlideFacts {
  /** µm per level-0 pixel, null when the slide records none and none was given. */
  mpp: number | null
  /** OpenSlide's vendor name (`aperio`, `hamamatsu`, `mirax`, `generic-tiff`, ...). */
  vendor: string | null
  /** The scanner's objective magnification, when recorded. */
  objectivePower: number | null
  /** Whether `mpp` was given (--slide-mpp) rather than read from the slide. */
  mppGiven?: boolean
}

/** What is known of the model's training patches. */
export interface ModelFacts {
  /** µm per pixel of the training patches, when known. */
  mpp: number | null
  /** The training store's source kind (`pcam-hdf5`, `kaggle`, `class-folders`, `slides`). */
  sourceKind: string | null
}

/**
 * The OpenSlide vendors of Camelyon16's scanners, which PCam was cut from: 3DHISTECH (MIRAX) and
 * Hamamatsu, and the generic TIFFs its slides are often converted to.
 */
const PCAM_VENDORS = new Set(['mirax', 'hamamatsu', 'generic-tiff'])

/**
 * A slide coarser than the model's patches by more than this has its tiles enlarged: detail the
 * model relied on is missing.
 */
const COARSER = 1.05

/**
 * µm/px times objective power: about 10 on most scanners (40x at 0.25 µm/px), 5 on some (3DHISTECH's
 * 20x at 0.24). Beyond this factor from 10 either way the two properties disagree, and the scale
 * the map is drawn at is suspect.
 */
const SCALE_PRODUCT = 10
const SCALE_DISAGREEMENT = 2.5

/** The cautions for one slide and model, each one sentence with what to check or do. */
export function slideCautions(slide: SlideFacts, model: ModelFacts): string[] {
  const cautions: string[] = []
  const vendor = slide.vendor ? ` (${slide.vendor})` : ''
  if (slide.mpp === null)
    cautions.push(
      `This slide records no µm/px${vendor}: prediction needs the server's --slide-mpp.`,
    )
  else if (model.mpp !== null && slide.mpp > model.mpp * COARSER)
    cautions.push(
      `This slide is scanned at ${slide.mpp.toFixed(3)} µm/px, coarser than the model's ` +
        `${model.mpp.toFixed(3)}: its tiles are enlarged, and the model never saw such images.`,
    )
  if (slide.mpp !== null && slide.objectivePower !== null) {
    const expected = SCALE_PRODUCT / slide.objectivePower
    const ratio = slide.mpp / expected
    if (ratio > SCALE_DISAGREEMENT || ratio < 1 / SCALE_DISAGREEMENT)
      cautions.push(
        `This slide's properties disagree: a ${slide.objectivePower}x objective usually means ` +
          `about ${expected.toFixed(2)} µm/px, but ${slide.mppGiven ? '--slide-mpp gives' : 'it records'} ` +
          `${slide.mpp.toFixed(3)}. If the scale is wrong, so are tile sizes and areas: ` +
          (slide.mppGiven ? 'check --slide-mpp.' : 'check the scan, or give --slide-mpp.'),
      )
  }
  const pcam = model.sourceKind === 'pcam-hdf5' || model.sourceKind === 'kaggle'
  if (pcam && slide.vendor !== null && !PCAM_VENDORS.has(slide.vendor))
    cautions.push(
      `This slide comes from a ${slide.vendor} scanner; the model learnt from PCam, whose ` +
        'slides were scanned by 3DHISTECH and Hamamatsu scanners: colours and stain may differ ' +
        'from anything it saw.',
    )
  return cautions
}
