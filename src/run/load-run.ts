/**
 * A trained run's best model, ready to predict: built from config.json's model spec, loaded
 * from model.safetensors, in eval mode and channels-last; an ensemble's, one model per member.
 * @module
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { DataError } from '../errors.js'
import { createModel, type PatchClassifier } from '../models/registry.js'
import { readSafetensors } from '../weights/safetensors.js'
import { memberDirs } from './ensemble.js'
import { readRunConfig, RUN_FILES, type RunConfig } from './run-folder.js'

/** The best model of a run folder, in eval mode, with its config. */
export function loadRun(dir: string): {
  /** The model with the run's best weights, in eval mode; the caller disposes it. */
  model: PatchClassifier
  /** The run's config.json. */
  config: RunConfig
} {
  const config = readRunConfig(dir)
  const weights = join(dir, RUN_FILES.model)
  if (config.ensemble)
    throw new DataError(
      `${dir} is an ensemble of ${config.ensemble.members.length} runs: load it with loadRunModels, or one member (${join(dir, config.ensemble.members[0] ?? '')}).`,
    )
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

/**
 * A run's models, loaded (the caller disposes them): one for an ordinary run, one per member,
 * in order, for an ensemble.
 */
export interface LoadedRun {
  /** The run's best model, or each member's in order; in eval mode, the caller disposes them. */
  models: PatchClassifier[]
  /** The run folder's own config.json (the ensemble's, for an ensemble). */
  config: RunConfig
  /** An ensemble's members: their folders and own config.json, in the order of `models`. */
  members?: {
    /** The member's run folder: the ensemble's folder joined with the member's name. */
    dir: string
    /** The member's own config.json. */
    config: RunConfig
  }[]
}

/** Loads a run's best model, or every member's best model for an ensemble. */
export function loadRunModels(dir: string): LoadedRun {
  const config = readRunConfig(dir)
  const dirs = memberDirs(dir, config)
  if (dirs.length === 0) return { models: [loadRun(dir).model], config }
  const loaded: { model: PatchClassifier; config: RunConfig }[] = []
  try {
    for (const member of dirs) loaded.push(loadRun(member))
  } catch (error) {
    for (const m of loaded) m.model.dispose()
    throw error
  }
  return {
    models: loaded.map((m) => m.model),
    config,
    members: loaded.map((m, i) => ({ dir: dirs[i] as string, config: m.config })),
  }
}
