/**
 * The learning-rate finder (Smith; fastai's lr_find): train for a few batches while the rate grows
 * exponentially, record the smoothed loss, stop when it diverges, suggest a rate, and put the
 * weights and optimizer back as they were.
 * @module
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { lrFinderChart } from '../eval/charts.js'
import { writeChart } from '../eval/render.js'
import { noGrad, type Tensor } from '../torch/index.js'
import { CancelFit, type Learner } from './learner.js'

/** fastai's defaults. */
export const LR_FIND_DEFAULTS = { start: 1e-7, end: 10, iterations: 100, stopFactor: 4, beta: 0.98 }

export interface LrFindResult {
  lrs: number[]
  losses: number[]
  /** The rate where the smoothed loss falls fastest (steepest descent). */
  suggestion: number
  /** One tenth of the rate at the lowest loss, fastai's older rule. */
  minimumTenth: number
}

export async function lrFind(
  learn: Learner,
  options: Partial<typeof LR_FIND_DEFAULTS> = {},
): Promise<LrFindResult> {
  const { start, end, iterations, stopFactor, beta } = { ...LR_FIND_DEFAULTS, ...options }
  const saved = new Map<Tensor, Tensor>()
  noGrad(() => {
    for (const t of learn.model.stateDict().values()) saved.set(t, t.clone())
  })
  const lrs: number[] = []
  const losses: number[] = []
  let smoothed = 0
  let best = Infinity
  const original = learn.callbacks.splice(0)
  learn.callbacks.push({
    afterBatch: (_, info) => {
      const step = lrs.length
      // Data-parallel ranks follow the mean loss, so they all stop at the same step.
      const dp = learn.options.dataParallel
      const loss = dp ? (dp.sum([info.loss]) as [number])[0] / dp.worldSize : info.loss
      smoothed = beta * smoothed + (1 - beta) * loss
      const value = smoothed / (1 - beta ** (step + 1))
      lrs.push(start * (end / start) ** (step / (iterations - 1)))
      losses.push(value)
      best = Math.min(best, value)
      if (step + 1 >= iterations || value > stopFactor * best || !Number.isFinite(value))
        throw new CancelFit()
      const next = start * (end / start) ** ((step + 1) / (iterations - 1))
      for (const group of learn.optimizer.paramGroups) group.lr = next
    },
  })
  try {
    for (const group of learn.optimizer.paramGroups) group.lr = start
    await learn.fitConstant(Math.ceil(iterations / learn.train.length) + 1)
  } finally {
    learn.callbacks.splice(0, learn.callbacks.length, ...original)
    noGrad(() => {
      for (const [target, copy] of saved) {
        target.copy_(copy)
        copy.dispose()
      }
    })
    learn.optimizer.dispose()
  }
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

/** Writes lr-find.csv, lr-find.json (curve and suggestions) and the plot (SVG, PNG) into dir. */
export async function saveLrFind(dir: string, result: LrFindResult): Promise<string[]> {
  const csv = ['lr,loss', ...result.lrs.map((lr, i) => `${lr},${result.losses[i]}`)].join('\n')
  await writeFile(join(dir, 'lr-find.csv'), `${csv}\n`)
  await writeFile(join(dir, 'lr-find.json'), `${JSON.stringify(result)}\n`)
  const chart = await writeChart(
    lrFinderChart(result.lrs, result.losses, result.suggestion),
    join(dir, 'lr-find'),
  )
  return [join(dir, 'lr-find.csv'), join(dir, 'lr-find.json'), chart.svg, chart.png]
}
