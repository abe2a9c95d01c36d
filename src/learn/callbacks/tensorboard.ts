/**
 * Logs training to a TensorBoard event file: the loss and learning rate of every training batch,
 * the validation loss and metrics of every epoch, and, when a fit ends at an epoch's end, the
 * validation set's top losses with their Grad-CAM overlays as an image.
 *
 * Steps count the optimizer steps of the whole run: a later stage and a resumed run go on from
 * the steps before them, and an epoch's figures sit at the step its training ended, on the same
 * axis as the batch curves.
 * @module
 */
import { readImageHeader } from '../../data/decode.js'
import type { EpochRecord } from '../../run/run-folder.js'
import type { Callback, Learner } from '../learner.js'
import { EventFileWriter } from '../tensorboard/event-file.js'

/**
 * A picture of a finished fit, as PNG (e.g. evaluation's top losses), or null when it has none
 * to show. Given by the caller, as pictures are drawn above the training loop.
 */
export type FitPicture = (learn: Learner) => Promise<Buffer | null>

/** Fields of an epoch record that are not validation metrics. */
const NOT_METRICS = new Set([
  'stage',
  'epoch',
  'trainLoss',
  'validLoss',
  'seconds',
  'imagesPerSec',
  'validSeconds',
  'rssMb',
])

/**
 * Logs the training curves, each epoch's validation figures and, after a fit, pictures to a
 * TensorBoard event file (torch.utils.tensorboard's SummaryWriter, as a callback).
 */
export class TensorBoardLogger implements Callback {
  /**
   * 60: after the Recorder (the epoch's record) and the checkpoints; before EarlyStopping, which
   * ends the fit in afterEpoch.
   */
  readonly order = 60
  #writer: EventFileWriter | null = null
  /**
   * Optimizer steps of the run so far, the x axis of every scalar: counted from the history at
   * the process's first fit (a resumed run's finished epochs, each of nIter batches, and the
   * batches of the epoch it resumes in), then one a training step, so epochs cut short or
   * without a record move it by what they trained.
   */
  #step: number | null = null

  constructor(
    /** The folder of the event file (e.g. <run>/tensorboard). */
    readonly dir: string,
    /** Pictures logged after a fit that ended with a validation pass, by tag. */
    readonly options: {
      /** The functions that draw the pictures, by tag (e.g. the top losses). */
      pictures?: Record<string, FitPicture>
    } = {},
  ) {}

  /** The event file, once the first fit has begun. */
  get path(): string | undefined {
    return this.#writer?.path
  }

  /** Opens the event file at the process's first fit; later fits write to the same one. */
  beforeFit(learn: Learner): void {
    // A new file for each process: an earlier one (a stopped run's) is left as it is.
    this.#writer ??= new EventFileWriter(this.dir)
    this.#step ??= learn.history.length * learn.nIter + (learn.resumedFrom?.batch ?? 0)
  }

  /** Logs the batch's training loss and the head's learning rate. */
  afterStep(learn: Learner): void {
    // afterStep, not afterBatch: it runs before a stop request ends the fit after the batch.
    const groups = learn.optimizer.paramGroups
    this.#step = (this.#step ?? 0) + 1
    this.#writer?.scalars(this.#step, {
      'train/loss': learn.lossValue,
      // The head's rate: the last group's, the highest under discriminative rates.
      'train/lr': (groups[groups.length - 1] as { lr: number }).lr,
    })
  }

  /** Logs the epoch's record (losses, speed, metrics) and flushes the file. */
  afterEpoch(learn: Learner): void {
    const record = learn.recorder.current
    if (!record) return
    this.#writer?.scalars(this.#step ?? 0, epochScalars(record))
    this.#writer?.flush()
  }

  /** Logs the pictures after a fit that ended with a validation pass, then releases the file. */
  async afterFit(learn: Learner): Promise<void> {
    try {
      // Only after a fit that ended with a validation pass (not a stop or an error mid-epoch).
      if (learn.stoppedAt || !learn.recorder.current) return
      for (const [tag, draw] of Object.entries(this.options.pictures ?? {})) {
        const png = await draw(learn)
        if (!png) continue
        const { width, height } = await readImageHeader(png)
        this.#writer?.image(this.#step ?? 0, tag, { png, width, height })
      }
    } finally {
      this.#writer?.close()
    }
  }
}

/** An epoch's record as scalars: train/epoch_loss, train/images_per_sec, valid/loss, valid/<metric>. */
function epochScalars(record: EpochRecord): Record<string, number> {
  const values: Record<string, number> = {
    'train/epoch_loss': record.trainLoss,
    'train/images_per_sec': record.imagesPerSec,
    'train/rss_mb': record.rssMb,
    'valid/loss': record.validLoss,
    'valid/seconds': record.validSeconds,
  }
  for (const [name, value] of Object.entries(record))
    if (!NOT_METRICS.has(name) && typeof value === 'number') values[`valid/${name}`] = value
  return values
}
