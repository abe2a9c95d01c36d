/**
 * The Learner's events and cancel exceptions, as fastai defines them. A fit calls:
 *
 *   beforeFit
 *     beforeEpoch
 *       beforeTrain
 *         beforeBatch, afterPred, afterLoss,
 *           beforeBackward, afterBackward, beforeStep, afterStep,   (training batches only)
 *         afterBatch                                                 (every training batch)
 *       afterTrain
 *       beforeValidate
 *         beforeBatch, afterPred, afterLoss, afterBatch              (every validation batch)
 *       afterValidate
 *     afterEpoch
 *   afterFit
 *
 * Each bracket (fit, epoch, train, validate, batch, backward, step) has its cancel exception.
 * Thrown from the bracket's `before` event or from inside it, it skips the rest of the bracket;
 * then `afterCancel<Bracket>` runs, and the bracket's `after` event still runs. So an epoch
 * cancelled after validation still reaches `afterEpoch`, where the weight averages put the
 * trained weights back, and a cancelled fit still reaches `afterFit`.
 * @module
 */
import type { Learner } from './learner.js'

/** Events inside a batch: synchronous, so that the batch loop never yields. */
export const BATCH_EVENTS = [
  'beforeBatch',
  'afterPred',
  'afterLoss',
  'beforeBackward',
  'afterCancelBackward',
  'afterBackward',
  'beforeStep',
  'afterCancelStep',
  'afterStep',
  'afterCancelBatch',
  'afterBatch',
] as const
export type BatchEvent = (typeof BATCH_EVENTS)[number]

/** Every event, in fastai's order (`_events` of fastai.learner). */
export const EVENTS = [
  'beforeFit',
  'beforeEpoch',
  'beforeTrain',
  ...BATCH_EVENTS,
  'afterCancelTrain',
  'afterTrain',
  'beforeValidate',
  'afterCancelValidate',
  'afterValidate',
  'afterCancelEpoch',
  'afterEpoch',
  'afterCancelFit',
  'afterFit',
] as const
export type LearnerEvent = (typeof EVENTS)[number]
/** Events outside the batch loop: they may be asynchronous (write files, wait on peers). */
export type FitEvent = Exclude<LearnerEvent, BatchEvent>

/**
 * A callback: a method for each event it handles, called with the learner. Callbacks run in
 * ascending `order` (default 0), then in the order they were added.
 */
export type Callback = { order?: number } & {
  [E in LearnerEvent]?: (learn: Learner) => E extends BatchEvent ? void : void | Promise<void>
}

/** Skips the rest of the batch (the step, when thrown before it); afterBatch still runs. */
export class CancelBatch extends Error {}
/** Skips loss.backward(); afterBackward, and the step, still run. */
export class CancelBackward extends Error {}
/** Skips optimizer.step(); afterStep still runs. */
export class CancelStep extends Error {}
/** Skips the rest of the training batches of the epoch; afterTrain and validation still run. */
export class CancelTrain extends Error {}
/** Skips the rest of the validation; afterValidate runs with `learn.valid` null, no record is made. */
export class CancelValidate extends Error {}
/** Skips the rest of the epoch; afterEpoch still runs, and the fit goes on to the next epoch. */
export class CancelEpoch extends Error {}
/**
 * Stops the fit; afterFit still runs. `finished` (early stopping): the fit counts as complete.
 * Otherwise (Ctrl-C) the learner records where it stopped, to resume there.
 */
export class CancelFit extends Error {
  constructor(readonly finished = false) {
    super(finished ? 'fit finished early' : 'fit cancelled')
  }
}
