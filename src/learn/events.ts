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
/** The name of an event inside a batch. */
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
/** The name of any event: the callback method that handles it. */
export type LearnerEvent = (typeof EVENTS)[number]
/** Events outside the batch loop: they may be asynchronous (write files, wait on peers). */
export type FitEvent = Exclude<LearnerEvent, BatchEvent>

/**
 * A callback: a method for each event it handles, called with the learner. Callbacks run in
 * ascending `order` (default 0), then in the order they were added. Batch events must be
 * synchronous; the others may return a promise, which the fit awaits.
 */
export interface Callback {
  /** Where it runs among the callbacks: lower first (default 0), ties in the order added. */
  order?: number
  /** Once, before the first epoch of a fit (a resumed fit included). */
  beforeFit?(learn: Learner): void | Promise<void>
  /** Before each epoch, training or not yet. */
  beforeEpoch?(learn: Learner): void | Promise<void>
  /** Before the training batches of an epoch; the model is in training mode from here. */
  beforeTrain?(learn: Learner): void | Promise<void>
  /** Before each batch, training or validation, with `xb` and `yb` set. */
  beforeBatch?(learn: Learner): void
  /** After the forward pass, with `pred` set. */
  afterPred?(learn: Learner): void
  /** After the loss, with `loss` set (and `lossValue` once it returns, in training). */
  afterLoss?(learn: Learner): void
  /** Before loss.backward(), in training; a callback may replace `loss` (loss scaling). */
  beforeBackward?(learn: Learner): void
  /** After CancelBackward skipped the backward pass. */
  afterCancelBackward?(learn: Learner): void
  /** After the backward pass, with the gradients set (or after it was cancelled). */
  afterBackward?(learn: Learner): void
  /** Before optimizer.step(): the gradients are final (averaged, unscaled, clipped). */
  beforeStep?(learn: Learner): void
  /** After CancelStep skipped the optimizer step. */
  afterCancelStep?(learn: Learner): void
  /** After the optimizer step (or after it was cancelled). */
  afterStep?(learn: Learner): void
  /** After CancelBatch skipped the rest of a batch. */
  afterCancelBatch?(learn: Learner): void
  /** After each batch, cancelled or not; a CancelFit thrown here stops after this batch. */
  afterBatch?(learn: Learner): void
  /** After CancelTrain skipped the rest of an epoch's training batches. */
  afterCancelTrain?(learn: Learner): void | Promise<void>
  /** After the training batches of an epoch, cancelled or not. */
  afterTrain?(learn: Learner): void | Promise<void>
  /** Before the validation pass; the model is in evaluation mode from here. */
  beforeValidate?(learn: Learner): void | Promise<void>
  /** After CancelValidate skipped the validation pass: `valid` is null, no record is made. */
  afterCancelValidate?(learn: Learner): void | Promise<void>
  /** After the validation pass, with `valid` set (null when cancelled). */
  afterValidate?(learn: Learner): void | Promise<void>
  /** After CancelEpoch skipped the rest of an epoch. */
  afterCancelEpoch?(learn: Learner): void | Promise<void>
  /** After each epoch, cancelled or not: checkpoints and weight averages act here. */
  afterEpoch?(learn: Learner): void | Promise<void>
  /** After CancelFit stopped the fit (early stopping, or a stop request). */
  afterCancelFit?(learn: Learner): void | Promise<void>
  /** Once at the end of a fit, however it ended, errors included. */
  afterFit?(learn: Learner): void | Promise<void>
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
  constructor(
    /** True when the fit ends as complete (early stopping), false when it stops to be resumed. */
    readonly finished = false,
  ) {
    super(finished ? 'fit finished early' : 'fit cancelled')
  }
}
