/**
 * Stops the fit after the current training batch when asked (Ctrl-C, a signal, a flag another
 * thread sets); data-parallel ranks agree after every batch, so all stop after the same one.
 * @module
 */
import type { DataParallel } from '../data-parallel.js'
import { CancelFit, type Callback, type Learner } from '../learner.js'

export class StopOnRequest implements Callback {
  constructor(
    readonly requested: () => boolean,
    readonly dataParallel?: DataParallel,
  ) {}

  afterBatch(learn: Learner): void {
    if (!learn.training) return
    const here = this.requested()
    if (this.dataParallel ? this.dataParallel.anyTrue(here) : here) throw new CancelFit()
  }
}
