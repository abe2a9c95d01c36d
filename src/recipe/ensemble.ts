/**
 * `pcam train --ensemble <k>`: k members trained one after another with seeds seed, seed + 1, ...,
 * each an ordinary run in its own subfolder of the ensemble's run folder (src/run/ensemble.ts);
 * then the ensemble's config.json: the members' model and input settings, and the threshold
 * chosen on the members' averaged valid probabilities. A stopped ensemble resumes in the member
 * it stopped in (the members before it are finished runs, which resume as done).
 * @module
 */
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, rm, rmdir } from 'node:fs/promises'
import { join } from 'node:path'
import { PatchStore, UNLABELLED } from '../data/store.js'
import { ValidationError } from '../errors.js'
import {
  binaryReport,
  chooseThreshold,
  formatThresholdRule,
  type ThresholdRule,
} from '../metrics/metrics.js'
import { memberName } from '../run/ensemble.js'
import {
  readRunConfig,
  RUN_FILES,
  writePendingEnsembleConfig,
  writeRunConfig,
  type EpochRecord,
  type RunConfig,
} from '../run/run-folder.js'
import { PCAM_VERSION } from '../version.js'
import { recipeOf, runFolderMode } from './run-mode.js'
import type { TrainConfig } from './train-config.js'
import type { TrainHooks, TrainResult } from './train.js'

/** Which member is about to train (TrainHooks.onMember). */
export interface MemberInfo {
  /** 0-based. */
  index: number
  /** Members in the ensemble (`--ensemble`). */
  count: number
  /** The member's seed: the run's `--seed` plus its index. */
  seed: number
  /** The member's run folder: a subfolder (member-1, member-2, ...) of the ensemble's. */
  out: string
}

/** The config of member `index`: the ensemble's settings with its own seed and subfolder. */
export function memberConfig(config: TrainConfig, index: number): TrainConfig {
  const member: TrainConfig = {
    ...config,
    seed: config.seed + index,
    out: join(config.out, memberName(index)),
  }
  delete member.ensemble
  return member
}

/** Trains a config with `ensemble` k > 1 (train() sends it here), with `trainMember` per member. */
export async function trainEnsemble(
  config: TrainConfig,
  hooks: TrainHooks,
  trainMember: (config: TrainConfig, hooks: TrainHooks) => Promise<TrainResult>,
): Promise<TrainResult> {
  const count = config.ensemble ?? 1
  if ((config.distributed?.worldSize ?? 1) > 1)
    throw new ValidationError(
      '--ensemble trains its members one after another in one process; drop --nproc / --nnodes',
    )
  // Refuses a folder that is not a pcam run, or an ensemble with other settings.
  runFolderMode(config)
  const members = Array.from({ length: count }, (_, i) => memberName(i))
  const configPath = join(config.out, RUN_FILES.config)
  const fresh = !existsSync(configPath)
  if (fresh) {
    await mkdir(config.out, { recursive: true })
    // What runFolderMode compares a resumed ensemble on; the rest comes once the members are done.
    await writePendingEnsembleConfig(config.out, {
      pcamVersion: PCAM_VERSION,
      recipe: recipeOf(config),
      data: { store: config.store },
      ensemble: { members },
    })
  }
  const results: TrainResult[] = []
  try {
    for (let index = 0; index < count; index++) {
      const member = memberConfig(config, index)
      hooks.onMember?.({ index, count, seed: member.seed, out: member.out })
      const result = await trainMember(member, hooks)
      results.push(result)
      if (!result.completed) {
        const bestAuc = Math.max(...results.map((r) => r.bestAuc))
        return {
          out: config.out,
          completed: false,
          history: [],
          bestAuc,
          lr: result.lr,
          members: results,
        }
      }
    }
  } catch (error) {
    // A first member that failed before its folder was made (a bad store, bad weights) leaves
    // nothing behind, as a single run's failure does.
    if (fresh && !existsSync(join(config.out, members[0] as string))) {
      await rm(configPath, { force: true })
      if (readdirSync(config.out).length === 0) await rmdir(config.out)
    }
    throw error
  }
  const validation = await combineMembers(config, members)
  return {
    out: config.out,
    completed: true,
    history: [],
    bestAuc: validation.auc,
    lr: (results[0] as TrainResult).lr,
    members: results,
  }
}

/**
 * Writes the ensemble's config.json once every member is trained: the first member's model and
 * input settings, the ensemble's recipe, and the threshold and validation figures of the
 * members' averaged probabilities on the valid split. Returns those figures.
 */
async function combineMembers(config: TrainConfig, members: string[]): Promise<EpochRecord> {
  const dirs = members.map((m) => join(config.out, m))
  const memberConfigs = dirs.map((dir) => readRunConfig(dir))
  const first = memberConfigs[0] as RunConfig
  // Loaded here, not with train.ts: the predictors bring ONNX Runtime, which a plain run never needs.
  const { meanOf, openPredictor, predictStoreWith } = await import('../eval/predictor.js')
  const store = PatchStore.open(config.store)
  let each: Float32Array[] = []
  let labels: Float64Array
  const started = performance.now()
  try {
    const indices = store.indicesOf('valid').filter((i) => store.label(i) !== UNLABELLED)
    labels = Float64Array.from(indices, (i) => store.label(i))
    for (const dir of dirs) {
      const predictor = await openPredictor(dir, 'libtorch')
      try {
        each.push(await predictStoreWith(predictor, store, indices))
      } finally {
        predictor.dispose()
      }
    }
  } finally {
    store.dispose()
  }
  const probabilities = meanOf(each)
  each = []
  const rule: ThresholdRule = config.threshold ?? { kind: 'fixed', value: 0.5 }
  const atHalf = binaryReport(probabilities, labels)
  const seconds = (performance.now() - started) / 1000
  const validation: EpochRecord = {
    stage: 'ensemble',
    epoch: 0,
    // The members' training losses at their best epochs, averaged: the ensemble has none of its own.
    trainLoss: mean(memberConfigs.map((c) => c.validation?.trainLoss ?? NaN)),
    validLoss: atHalf.logLoss,
    accuracy: atHalf.accuracy,
    errorRate: atHalf.errorRate,
    auc: atHalf.rocAuc,
    seconds,
    imagesPerSec: (labels.length * members.length) / seconds,
    validSeconds: seconds,
    rssMb: Math.round(process.memoryUsage.rss() / 2 ** 20),
  }
  const ensembleConfig: RunConfig = {
    ...first,
    pcamVersion: PCAM_VERSION,
    recipe: recipeOf(config),
    threshold: {
      value: chooseThreshold(probabilities, labels, rule),
      rule: formatThresholdRule(rule),
      chosenOn: 'valid',
      stage: 'ensemble',
      epoch: 0,
    },
    validation,
    ensemble: { members },
  }
  await writeRunConfig(config.out, ensembleConfig)
  return validation
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length
}
