/**
 * The learning-rate finder (Smith; fastai's lr_find): train for a few batches while the rate grows
 * exponentially, record the smoothed loss, stop when it diverges, suggest a rate, and put the
 * weights and optimizer back as they were.
 * @module
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeCsv } from '../data/csv.js'
import { atomicWrite, RUN_FILES, writeJson, type LrFindResult } from '../run/run-folder.js'
import { noGrad, type Tensor } from '../torch/index.js'
import type { DataParallel } from './data-parallel.js'
import { NonFiniteLossCheck } from './callbacks/non-finite-loss.js'
import { CancelFit, CancelValidate, type Callback, type Learner } from './learner.js'

/** fastai's defaults. */
export const LR_FIND_DEFAULTS = { start: 1e-7, end: 10, iterations: 100, stopFactor: 4, beta: 0.98 }

// The result belongs to the run folder's format; re-exported for the finder's users.
export type { LrFindResult }

/**
 * The sweep as a callback: after every training batch it records the smoothed loss (the mean over
 * data-parallel ranks, so all stop at the same step), raises the rate exponentially, and cancels
 * the fit when the loss diverges or the sweep is done. Epochs end without validation.
 */
class LrFinder implements Callback {
  // Cancels validation before any callback prepares for it (EMA swaps its average in).
  readonly order = -50
  readonly lrs: number[] = []
  readonly losses: number[] = []
  #smoothed = 0
  #best = Infinity

  constructor(
    readonly settings: typeof LR_FIND_DEFAULTS,
    readonly dataParallel?: DataParallel,
  ) {}

  #rate(step: number): number {
    const { start, end, iterations } = this.settings
    return start * (end / start) ** (step / (iterations - 1))
  }

  beforeFit(learn: Learner): void {
    for (const group of learn.optimizer.paramGroups) group.lr = this.settings.start
  }

  afterBatch(learn: Learner): void {
    if (!learn.training || !learn.loss) return
    const { iterations, stopFactor, beta } = this.settings
    const step = this.lrs.length
    const dp = this.dataParallel
    const loss = dp ? (dp.sum([learn.lossValue]) as [number])[0] / dp.worldSize : learn.lossValue
    this.#smoothed = beta * this.#smoothed + (1 - beta) * loss
    const value = this.#smoothed / (1 - beta ** (step + 1))
    this.lrs.push(this.#rate(step))
    this.losses.push(value)
    this.#best = Math.min(this.#best, value)
    if (step + 1 >= iterations || value > stopFactor * this.#best || !Number.isFinite(value))
      throw new CancelFit()
    for (const group of learn.optimizer.paramGroups) group.lr = this.#rate(step + 1)
  }

  beforeValidate(): void {
    throw new CancelValidate()
  }
}

/**
 * Runs the sweep with the learner's callbacks as they are (give it one whose callbacks are the
 * training mechanics: mixed precision, clipping, data-parallel), then puts the weights, the
 * optimizer and the history back as they were.
 */
export async function lrFind(
  learn: Learner,
  options: Partial<typeof LR_FIND_DEFAULTS> & { dataParallel?: DataParallel } = {},
): Promise<LrFindResult> {
  const settings = { ...LR_FIND_DEFAULTS, ...options }
  const saved = new Map<Tensor, Tensor>()
  noGrad(() => {
    for (const t of learn.model.stateDict().values()) saved.set(t, t.clone())
  })
  const finder = new LrFinder(settings, options.dataParallel)
  const epochs = learn.history.length
  // A diverging loss ends the sweep (the finder's own stop), not the process: the stop on a
  // non-finite loss steps aside while it runs.
  const nonFinite = learn.callbacks.filter((cb) => cb instanceof NonFiniteLossCheck)
  learn.removeCallback(...nonFinite)
  try {
    await learn.withCallbacks([finder], () =>
      learn.fit(Math.ceil(settings.iterations / learn.train.length) + 1, 'lr-find'),
    )
  } finally {
    learn.addCallback(...nonFinite)
    learn.history.splice(epochs)
    noGrad(() => {
      for (const [target, copy] of saved) {
        target.copy_(copy)
        copy.dispose()
      }
    })
    learn.optimizer.dispose()
  }
  const { lrs, losses } = finder
  let steepest = 0
  let steepestIndex = 0
  for (let i = 1; i < losses.length - 1; i++) {
    const slope =
      ((losses[i + 1] as number) - (losses[i - 1] as number)) /
      Math.log((lrs[i + 1] as number) / (lrs[i - 1] as number))
    if (slope < steepest) {
      steepest = slope
      steepestIndex = i
    }
  }
  const minimum = losses.indexOf(Math.min(...losses))
  return {
    lrs,
    losses,
    suggestion: lrs[steepestIndex] as number,
    minimumTenth: (lrs[minimum] as number) / 10,
  }
}

/**
 * Writes lr-find.csv and lr-find.json (curve and suggestions) into dir; the plot is drawn by
 * plotLrFind (src/eval/lr-find-plot.ts), as plots belong to evaluation.
 */
export async function saveLrFind(dir: string, result: LrFindResult): Promise<string[]> {
  const csv = writeCsv(
    ['lr', 'loss'],
    result.lrs.map((lr, i) => [lr, result.losses[i] as number]),
  )
  const files = [join(dir, 'lr-find.csv'), join(dir, RUN_FILES.lrFind)] as const
  await atomicWrite(files[0], (tmp) => writeFile(tmp, csv))
  await writeJson(files[1], result)
  return [...files]
}
