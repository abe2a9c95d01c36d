/**
 * A trained run's best model, ready to predict: built from config.json's model spec, loaded
 * from model.safetensors, in eval mode and channels-last.
 * @module
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { DataError } from '../errors.js'
import { createModel, type PatchClassifier } from '../models/registry.js'
import { readSafetensors } from '../weights/safetensors.js'
import { readRunConfig, RUN_FILES, type RunConfig } from './run-folder.js'

/** The best model of a run folder, in eval mode, with its config. */
export function loadRun(dir: string): { model: PatchClassifier; config: RunConfig } {
  const config = readRunConfig(dir)
  const weights = join(dir, RUN_FILES.model)
  if (!existsSync(weights))
    throw new DataError(`${weights} not found: is ${dir} a run folder written by "pcam train"?`)
  const model = createModel(config.model)
  try {
    const { tensors } = readSafetensors(weights)
    try {
      model.loadStateDict(tensors)
    } finally {
      for (const t of tensors.values()) t.dispose()
    }
  } catch (error) {
    model.dispose()
    throw error
  }
  model.toChannelsLast().eval()
  return { model, config }
}
