/**
 * Early stopping (fastai's EarlyStoppingCallback): ends the fit, as finished, when a validation
 * metric has not improved for `patience` epochs of that fit.
 * @module
 */
import type { EpochRecord } from '../../run/run-folder.js'
import { CancelFit, type Callback, type Learner } from '../learner.js'

/**
 * The records of the current fit so far, the epoch just validated last: the trailing records of
 * its stage with epochs counting up to it. A resumed fit's history is restored with its state, so
 * its earlier epochs count too.
 */
export function fitRecords(learn: Learner): EpochRecord[] {
  const records: EpochRecord[] = []
  let next = learn.epoch + 1
  for (let i = learn.history.length - 1; i >= 0; i--) {
    const record = learn.history[i] as EpochRecord
    // An earlier fit of the same name starts its epochs again from 0.
    if (record.stage !== learn.stage || record.epoch >= next) break
    records.unshift(record)
    next = record.epoch
  }
  return records
}

/**
 * Ends the fit as finished (CancelFit(true)) once `monitor` has not improved for `patience` epochs
 * of that fit (fastai's EarlyStoppingCallback).
 */
export class EarlyStopping implements Callback {
  /** Last (100): the epoch that triggers it is recorded and checkpointed first. */
  readonly order = 100

  constructor(
    /** Epochs after the fit's best one that end it. */
    readonly patience: number,
    /** The epoch-record metric watched, higher being better (default 'auc'). */
    readonly monitor = 'auc',
  ) {}

  /** Ends the fit once its best `monitor` value is `patience` or more epochs old. */
  afterEpoch(learn: Learner): void {
    // Derived from the history, not counted here, so a stop and resume loses no count.
    const values = fitRecords(learn)
      .map((r) => r[this.monitor])
      .filter((v): v is number => typeof v === 'number')
      // NaN (e.g. AUC of a one-class split) improves on nothing.
      .map((v) => (Number.isNaN(v) ? -Infinity : v))
    if (typeof learn.recorder.current?.[this.monitor] !== 'number' || values.length === 0) return
    // The first epoch that reached the best value: a later tie is no improvement.
    const bestAt = values.indexOf(Math.max(...values))
    if (values.length - 1 - bestAt >= this.patience) throw new CancelFit(true)
  }
}
