/**
 * Keeps a run's best model (fastai's SaveModelCallback): after an epoch whose validation metric
 * beats every earlier one, writes model.safetensors (and torchvision.safetensors where the
 * architecture has that form), and records in config.json the threshold chosen on the valid
 * split by the run's rule and that epoch's validation figures.
 * @module
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { chooseThreshold, formatThresholdRule, type ThresholdRule } from '../../eval/metrics.js'
import type { PatchClassifier } from '../../models/registry.js'
import { hasTorchvisionForm, torchvisionStateDict } from '../../weights/torchvision.js'
import { saveModel, saveTensors, writeJson } from '../checkpoint.js'
import type { Callback, Learner, ValidOutputs } from '../learner.js'

/** The decision threshold a run carries: chosen on the valid split at its best epoch. */
export interface RunThreshold {
  value: number
  rule: string
  chosenOn: 'valid'
  stage: string
  epoch: number
}

export class SaveBest implements Callback {
  /** The best value of the monitored metric so far. */
  best: number

  constructor(
    readonly out: string,
    readonly options: { monitor?: string; threshold?: ThresholdRule; best?: number } = {},
  ) {
    this.best = options.best ?? -Infinity
  }

  async afterEpoch(learn: Learner): Promise<void> {
    const record = learn.recorder.last
    const value = record?.[this.options.monitor ?? 'auc']
    if (!record || typeof value !== 'number' || !(value > this.best)) return
    this.best = value
    await saveModel(join(this.out, 'model.safetensors'), learn.model)
    const model = learn.model as PatchClassifier
    if (hasTorchvisionForm(model.spec))
      await saveTensors(join(this.out, 'torchvision.safetensors'), torchvisionStateDict(model))
    const valid = learn.valid as ValidOutputs
    const rule = this.options.threshold ?? { kind: 'fixed', value: 0.5 }
    const threshold: RunThreshold = {
      value: chooseThreshold(valid.probabilities, valid.labels, rule),
      rule: formatThresholdRule(rule),
      chosenOn: 'valid',
      stage: record.stage,
      epoch: record.epoch,
    }
    const path = join(this.out, 'config.json')
    const runConfig = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
    await writeJson(path, { ...runConfig, threshold, validation: record })
  }
}
