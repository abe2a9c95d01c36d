/**
 * Whether `pcam train --out <dir>` starts a run, resumes one, or must refuse: a run resumes only
 * with the settings it was started with, and a folder that is not a pcam run is never written
 * into (its files are the user's).
 * @module
 */
import { existsSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ConfigError, DataError } from '../errors.js'
import { hasResumeState, readJson, RUN_FILES } from '../run/run-folder.js'
import type { TrainConfig } from './train-config.js'

/**
 * The recipe of a run, as config.json keeps it and a resumed run must match: its settings without
 * the store (kept under data, compared resolved), the folder, and whether TensorBoard logs (that
 * changes nothing the run computes). Of a data-parallel run, the group's size and batch-norm rule:
 * a process's rank and address are not settings of the run.
 */
export function recipeOf(config: Partial<TrainConfig>): Record<string, unknown> {
  const recipe: Record<string, unknown> = { ...config }
  delete recipe.store
  delete recipe.out
  delete recipe.tensorboard
  const d = config.distributed
  if (d) recipe.distributed = { worldSize: d.worldSize, bnStats: d.bnStats }
  // As JSON holds it: no undefined fields.
  return JSON.parse(JSON.stringify(recipe)) as Record<string, unknown>
}

/**
 * Facts of the machine a run computes on, not settings of its recipe: a run stopped on one
 * machine resumes on another (a GPU run on a CPU, or the reverse) in what that one runs best.
 * mixedPrecision is how runs before --precision recorded theirs.
 */
const MACHINE_FACTS = ['precision', 'precisionReason', 'device', 'mixedPrecision']

/** What a run's settings are compared on: the recipe, with the store as an absolute path. */
function comparable(config: Partial<TrainConfig>, store: string): Record<string, string> {
  const settings: Record<string, unknown> = { ...recipeOf(config), store: resolve(store) }
  for (const key of MACHINE_FACTS) delete settings[key]
  return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, JSON.stringify(v)]))
}

/** The flag a recipe key comes from, for messages. */
function flagOf(key: string): string {
  const special: Record<string, string> = {
    distributed: '--nproc/--bn-stats',
    store: '--data',
  }
  return special[key] ?? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
}

/** The first of <out>-2, <out>-3, ... that does not exist. */
function freeRunFolder(out: string): string {
  for (let n = 2; ; n++) if (!existsSync(`${out}-${n}`)) return `${out}-${n}`
}

/**
 * 'resume' when `out` holds a checkpoint of a run with the same settings, 'new' when it is absent,
 * empty, or a run that never reached its first checkpoint; otherwise a ConfigError that names
 * what differs and where a new run can go.
 */
export function runFolderMode(config: TrainConfig): 'new' | 'resume' {
  const { out } = config
  if (!existsSync(out) || readdirSync(out).length === 0) return 'new'
  const configPath = join(out, RUN_FILES.config)
  if (!existsSync(configPath)) {
    throw new ConfigError(
      `${out} exists and is not a pcam run folder (no config.json); pcam does not write into it. ` +
        `Choose another --out, e.g. ${freeRunFolder(out)}.`,
    )
  }
  let earlier: { recipe?: Partial<TrainConfig>; data?: { store?: string } }
  try {
    earlier = readJson(configPath)
  } catch (error) {
    if (!(error instanceof DataError)) throw error
    throw new ConfigError(`${configPath} is not valid JSON; this run folder cannot be resumed.`)
  }
  if (!earlier.recipe || typeof earlier.data?.store !== 'string') {
    throw new ConfigError(
      `${configPath} has no training recipe (not written by "pcam train"); choose another --out, e.g. ${freeRunFolder(out)}.`,
    )
  }
  // Through recipeOf too: runs written before it kept a rank's whole distributed config.
  const before = comparable(earlier.recipe, earlier.data.store)
  const now = comparable(config, config.store)
  const differences = [...new Set([...Object.keys(before), ...Object.keys(now)])]
    .filter((key) => before[key] !== now[key])
    .map(
      (key) =>
        `${flagOf(key)} ${now[key] ?? '(not set)'} (the run has ${before[key] ?? '(not set)'})`,
    )
  if (differences.length > 0) {
    throw new ConfigError(
      `${out} holds a run with other settings: ${differences.join('; ')}. ` +
        `Run the same command as before to resume it, or start a new run with --out ${freeRunFolder(out)}.`,
    )
  }
  return hasResumeState(out) ? 'resume' : 'new'
}
