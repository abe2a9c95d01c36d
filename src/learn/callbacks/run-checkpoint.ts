/**
 * The resume state of a run folder, written after every epoch and when a fit stops: weights,
 * optimizer state, position (mid-epoch ones with the epoch's sums), random state, history. A fit
 * finished early (early stopping) is saved as finished, so a resumed run skips what is left of
 * that stage.
 * @module
 */
import { saveResumeState } from '../checkpoint.js'
import type { Callback, Learner } from '../learner.js'

export class RunCheckpoint implements Callback {
  // After the weight averages (EMA, SWA: 5) have put the raw weights back in afterEpoch and
  // afterFit: the weights to resume from are the trained ones.
  readonly order = 10

  constructor(readonly out: string) {}

  async afterEpoch(learn: Learner): Promise<void> {
    const position = { stage: learn.stage, epoch: learn.epoch + 1, batch: 0 }
    await saveResumeState(this.out, learn, position)
  }

  async afterFit(learn: Learner): Promise<void> {
    if (learn.stoppedAt) await saveResumeState(this.out, learn, learn.stoppedAt)
    else if (learn.finishedEarly) {
      const finished = { stage: learn.stage, epoch: Number.MAX_SAFE_INTEGER, batch: 0 }
      await saveResumeState(this.out, learn, finished)
    }
  }
}
