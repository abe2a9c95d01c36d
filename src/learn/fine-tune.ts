/**
 * fineTune (fastai's fine_tune, with pcam's rates): a pretrained backbone is first frozen while
 * the head trains at `lr` for `freezeEpochs` one-cycle epochs, then everything trains for
 * `epochs` at discriminative rates (the body 100x to 5x below `lr`). A plain function over the
 * Learner; `from` resumes a stopped run in whichever stage it stopped.
 * @module
 */
import { ValidationError } from '../errors.js'
import type { EpochLoader, Learner } from './learner.js'
import type { FitPosition } from '../run/run-folder.js'
import { ONE_CYCLE_DEFAULTS, spreadLr } from './schedule.js'

/** The length and rate of a fineTune, and where a stopped one resumes. */
export interface FineTuneOptions {
  /** Epochs of the unfrozen stage, where every layer group trains. */
  epochs: number
  /** Peak rate of the frozen stage; the unfrozen one spreads lr / 100 to lr / 5 over the groups. */
  lr: number
  /** Epochs that train the head with the body frozen first (default 1; 0 skips that stage). */
  freezeEpochs?: number
  /** Where a stopped run stood. */
  from?: FitPosition | null
}

/** One one-cycle fit of a recipe: its name (kept in checkpoints), length, rates, and frozen body. */
export interface Stage {
  stage: string
  epochs: number
  lr: number | [number, number]
  frozen: boolean
  /** The rates held constant (SWA's stage), at one-cycle's final momentum, instead of one-cycle. */
  constant?: boolean
  /** Input size of this stage's batches, training and validation (progressive resizing). */
  size?: number
}

/**
 * Progressive resizing: `stage` split into one one-cycle stage per size, smallest first, its
 * epochs shared out evenly (the larger sizes take any remainder), named "<stage>-<size>".
 */
export function splitBySize(stage: Stage, sizes: readonly number[]): Stage[] {
  const parts = sizes.length
  return sizes.map((size, i) => ({
    ...stage,
    stage: `${stage.stage}-${size}`,
    epochs: Math.floor(((i + 1) * stage.epochs) / parts) - Math.floor((i * stage.epochs) / parts),
    size,
  }))
}

/** The stages fineTune runs, in order. */
export function fineTuneStages(options: FineTuneOptions): Stage[] {
  const { epochs, lr, freezeEpochs = 1 } = options
  return [
    ...(freezeEpochs > 0 ? [{ stage: 'frozen', epochs: freezeEpochs, lr, frozen: true }] : []),
    {
      stage: freezeEpochs > 0 ? 'unfrozen' : 'train',
      epochs,
      lr: [lr / 100, lr / 5],
      frozen: false,
    },
  ]
}

/** Progressive resizing: the loader's output size for the stage (PatchLoader has one). */
function resize(loader: EpochLoader & { size?: number }, size: number): void {
  if (typeof loader.size !== 'number')
    throw new ValidationError('A stage with a size needs loaders with a size (such as PatchLoader)')
  loader.size = size
}

/** Runs stages of one-cycle fits, skipping those a resumed run already finished. */
export async function runStages(
  learn: Learner,
  stages: Stage[],
  from: FitPosition | null = null,
): Promise<boolean> {
  const at = from ? stages.findIndex((s) => s.stage === from.stage) : 0
  for (const [index, s] of stages.entries()) {
    if (index < at) continue
    const resume = from && from.stage === s.stage ? from : undefined
    if (resume && resume.epoch >= s.epochs) continue
    if (s.frozen) learn.freeze()
    else learn.unfreeze()
    if (s.size !== undefined)
      for (const loader of [learn.train, learn.validLoader]) resize(loader, s.size)
    if (!(await fitStage(learn, s, resume))) return false
  }
  return true
}

function fitStage(learn: Learner, s: Stage, from: FitPosition | undefined): Promise<boolean> {
  if (!s.constant) return learn.fitOneCycle(s.epochs, s.lr, { stage: s.stage, from })
  learn.setHyper(spreadLr(s.lr, learn.layerGroups().length), ONE_CYCLE_DEFAULTS.moms[2])
  return learn.fit(s.epochs, s.stage, from)
}

/** Returns false when the fit was stopped (see learn.stoppedAt), true when it finished. */
export function fineTune(learn: Learner, options: FineTuneOptions): Promise<boolean> {
  return runStages(learn, fineTuneStages(options), options.from ?? null)
}
