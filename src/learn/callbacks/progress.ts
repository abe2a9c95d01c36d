/**
 * Reports progress to whoever drives the training (the CLI's progress bar and epoch table, a
 * worker thread's messages): every training batch, and every epoch's record.
 * @module
 */
import type { BatchInfo, Callback, Learner } from '../learner.js'
import type { EpochRecord } from '../../run/run-folder.js'

export class ReportProgress implements Callback {
  // Before StopOnRequest: a stop asked for while reporting a batch takes effect after that batch.
  readonly order = -5

  constructor(
    readonly report: {
      onBatch?: (info: BatchInfo) => void
      onEpoch?: (record: EpochRecord) => void
    },
  ) {}

  afterBatch(learn: Learner): void {
    if (learn.training && learn.loss) this.report.onBatch?.(learn.recorder.batchInfo(learn))
  }

  afterEpoch(learn: Learner): void {
    const record = learn.recorder.current
    if (record) this.report.onEpoch?.(record)
  }
}
