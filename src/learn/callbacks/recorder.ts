/**
 * Recorder (fastai's): the training loss of each epoch, the validation loss and metrics, time
 * and speed, one EpochRecord per finished epoch in `history`; optionally rewritten to a
 * metrics.jsonl file after each epoch. Every Learner has one.
 * @module
 */
import { softmax } from '../../torch/index.js'
import type { BatchInfo, Callback, Learner, ValidOutputs } from '../learner.js'
import { writeHistory, type EpochRecord, type FitPosition } from '../../run/run-folder.js'

export class Recorder implements Callback {
  // After the callbacks that change the validation outputs (data-parallel gathering), and after
  // the checkpoint of an epoch, so that metrics.jsonl never lists an epoch not yet committed.
  readonly order = 50
  readonly history: EpochRecord[] = []
  /** The last validation's loss and metrics (also outside a fit). */
  validLoss = NaN
  validMetrics: Record<string, number> = {}
  #file: string | null = null
  #inFit = false
  #current: EpochRecord | null = null
  #resume: FitPosition | null = null
  #began = 0
  #trainSeconds = 0
  #validBegan = 0
  #lossSum = 0
  #seen = 0
  #probabilities: number[] = []
  #labels: number[] = []
  #validLossSum = 0
  #classes = 1

  /**
   * Rewrites `dir`/metrics.jsonl from the history now (a resumed run's file is repaired after a
   * crash between a checkpoint and its metrics) and after every epoch.
   */
  async logTo(dir: string): Promise<void> {
    this.#file = dir
    await writeHistory(dir, this.history)
  }

  beforeFit(learn: Learner): void {
    this.#inFit = true
    this.#resume = learn.resumedFrom
  }

  beforeEpoch(learn: Learner): void {
    // The epoch a stopped fit resumes in carries on from the sums saved with the checkpoint.
    const partial = this.#resume?.epoch === learn.epoch ? this.#resume.partial : undefined
    this.#resume = null
    this.#current = null
    this.#began = performance.now() - (partial?.seconds ?? 0) * 1000
    this.#lossSum = partial?.lossSum ?? 0
    this.#seen = partial?.seen ?? 0
  }

  afterStep(learn: Learner): void {
    const size = (learn.xb as NonNullable<Learner['xb']>).size(0)
    this.#lossSum += learn.lossValue * size
    this.#seen += size
  }

  afterTrain(): void {
    this.#trainSeconds = (performance.now() - this.#began) / 1000
  }

  beforeValidate(): void {
    this.#validBegan = performance.now()
    this.#probabilities = []
    this.#labels = []
    this.#validLossSum = 0
  }

  afterLoss(learn: Learner): void {
    if (learn.training) return
    const pred = (learn.pred as NonNullable<Learner['pred']>).float()
    this.#classes = pred.size(1)
    const probabilities = this.#classes === 1 ? pred.reshape(-1).sigmoid() : softmax(pred, 1)
    this.#probabilities.push(...probabilities.toArray())
    this.#labels.push(...(learn.yb as NonNullable<Learner['yb']>).toArray())
    this.#validLossSum += (learn.loss as NonNullable<Learner['loss']>).item()
  }

  /** What this process's validation pass saw. */
  validOutputs(): ValidOutputs {
    return {
      probabilities: Float32Array.from(this.#probabilities),
      labels: Float32Array.from(this.#labels),
      classes: this.#classes,
      lossSum: this.#validLossSum,
    }
  }

  afterValidate(learn: Learner): void {
    // A cancelled validation (CancelValidate) leaves no outputs and makes no record.
    const valid = learn.valid
    if (!valid) return
    this.validLoss = valid.lossSum / valid.labels.length
    this.validMetrics = Object.fromEntries(learn.metrics.map((m) => [m.name, m.compute(valid)]))
    if (!this.#inFit) return
    const record: EpochRecord = {
      stage: learn.stage,
      epoch: learn.epoch,
      trainLoss: this.#lossSum / this.#seen,
      validLoss: this.validLoss,
      accuracy: NaN,
      errorRate: NaN,
      auc: NaN,
      ...this.validMetrics,
      seconds: this.#trainSeconds,
      imagesPerSec: this.#seen / this.#trainSeconds,
      validSeconds: (performance.now() - this.#validBegan) / 1000,
      // Resident memory after each epoch: a run whose memory grows shows it here.
      rssMb: Math.round(process.memoryUsage.rss() / 2 ** 20),
    }
    this.history.push(record)
    this.#current = record
  }

  async afterEpoch(): Promise<void> {
    if (this.#file) await writeHistory(this.#file, this.history)
  }

  afterFit(): void {
    this.#inFit = false
  }

  /**
   * The current epoch's record once it has been validated: null before, and for an epoch whose
   * validation was cancelled. It stays after the fit's last epoch, for afterFit.
   */
  get current(): EpochRecord | null {
    return this.#current
  }

  /** The last finished epoch's record. */
  get last(): EpochRecord | undefined {
    return this.history.at(-1)
  }

  /** Progress of the training batch just done. */
  batchInfo(learn: Learner): BatchInfo {
    return {
      stage: learn.stage,
      epoch: learn.epoch,
      epochs: learn.nEpochs,
      batch: learn.iter + 1,
      batches: learn.nIter,
      loss: learn.lossValue,
      imagesPerSec: this.#seen / ((performance.now() - this.#began) / 1000),
    }
  }

  /** The current epoch's sums so far, kept with a mid-epoch checkpoint. */
  partial(): NonNullable<FitPosition['partial']> {
    return {
      lossSum: this.#lossSum,
      seen: this.#seen,
      seconds: (performance.now() - this.#began) / 1000,
    }
  }
}
