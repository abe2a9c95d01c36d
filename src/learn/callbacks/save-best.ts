/**
 * Keeps a run's best model (fastai's SaveModelCallback): after an epoch whose validation metric
 * beats every earlier one, writes model.safetensors (and torchvision.safetensors where the
 * architecture has that form), and records in config.json the threshold chosen on the valid
 * split by the run's rule and that epoch's validation figures. Every epoch of a kept stage (SWA's)
 * is saved whatever its metric, so its last is the run's model.
 * @module
 */
import { join } from 'node:path'
import { chooseThreshold, formatThresholdRule, type ThresholdRule } from '../../metrics/metrics.js'
import type { PatchClassifier } from '../../models/registry.js'
import { hasTorchvisionForm, torchvisionStateDict } from '../../weights/torchvision.js'
import { recordBestEpoch, RUN_FILES, type RunThreshold } from '../../run/run-folder.js'
import { saveModel, saveTensors } from '../checkpoint.js'
import type { Callback, Learner, ValidOutputs } from '../learner.js'

/**
 * Saves the model, and records its threshold and figures in config.json, after each epoch that
 * beats every earlier one on `monitor` (fastai's SaveModelCallback).
 */
export class SaveBest implements Callback {
  constructor(
    /** The run folder the model and config.json are written to. */
    readonly out: string,
    /** What is monitored, how the threshold is chosen, and which stages count. */
    readonly options: {
      /** The epoch-record metric to maximise (default 'auc'). */
      monitor?: string
      /** How the decision threshold is chosen on the valid split (default: fixed at 0.5). */
      threshold?: ThresholdRule
      /** A stage whose every epoch is saved whatever its metric (SWA's: the average is the result). */
      keepLast?: string
      /**
       * The stages whose epochs may be the best (default: all); progressive resizing's are those
       * at the final size, the one the run's model is used at.
       */
      candidates?: readonly string[]
    } = {},
  ) {}

  /** Saves the model when the epoch beats the earlier candidates (or is of the kept stage). */
  async afterEpoch(learn: Learner): Promise<void> {
    const monitor = this.options.monitor ?? 'auc'
    const record = learn.recorder.current
    const value = record?.[monitor]
    if (!record || typeof value !== 'number' || !this.#candidate(record.stage)) return
    // The best of the run's earlier candidate epochs: a resumed run has them in its history.
    const earlier = learn.history
      .slice(0, -1)
      .filter((r) => this.#candidate(r.stage))
      .map((r) => r[monitor])
      .filter((v): v is number => typeof v === 'number' && !Number.isNaN(v))
    const kept = record.stage === this.options.keepLast
    if (!kept && !(value > Math.max(-Infinity, ...earlier))) return
    await saveModel(join(this.out, RUN_FILES.model), learn.model)
    const model = learn.model as PatchClassifier
    if (hasTorchvisionForm(model.spec))
      await saveTensors(join(this.out, RUN_FILES.torchvision), torchvisionStateDict(model))
    const valid = learn.valid as ValidOutputs
    const rule = this.options.threshold ?? { kind: 'fixed', value: 0.5 }
    const threshold: RunThreshold = {
      value: chooseThreshold(valid.probabilities, valid.labels, rule),
      rule: formatThresholdRule(rule),
      chosenOn: 'valid',
      stage: record.stage,
      epoch: record.epoch,
    }
    await recordBestEpoch(this.out, threshold, record)
  }

  #candidate(stage: string): boolean {
    const { candidates } = this.options
    return candidates === undefined || candidates.includes(stage)
  }
}
