/**
 * Whether `pcam train --out <dir>` starts a run, resumes one, or must refuse: a run resumes only
 * with the settings it was started with, and a folder that is not a pcam run is never written
 * into (its files are the user's).
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ConfigError } from '../errors.js'
import { hasResumeState, RUN_FILES } from '../run/run-folder.js'
import type { TrainConfig } from './train.js'

/** What a run's settings are compared on: the recipe, with the store as an absolute path. */
function comparable(recipe: Record<string, unknown>, store: string): Record<string, string> {
  const { distributed, ...rest } = recipe as { distributed?: Record<string, unknown> }
  const settings: Record<string, unknown> = { ...rest, store: resolve(store) }
  delete settings.out
  // Logging to TensorBoard or not changes nothing the run computes.
  delete settings.tensorboard
  // Which rank and address a process has is not a setting of the run; the group's size is.
  if (distributed)
    settings.distributed = { worldSize: distributed.worldSize, bnStats: distributed.bnStats }
  return Object.fromEntries(
    Object.entries(settings)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, JSON.stringify(v)]),
  )
}

/** The flag a recipe key comes from, for messages. */
function flagOf(key: string): string {
  const special: Record<string, string> = {
    mixedPrecision: '--bf16',
    distributed: '--nproc/--bn-stats',
    store: '--data',
  }
  return special[key] ?? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
}

/** The first of <out>-2, <out>-3, ... that does not exist. */
export function freeRunFolder(out: string): string {
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
  let earlier: { recipe?: Record<string, unknown>; data?: { store?: string } }
  try {
    earlier = JSON.parse(readFileSync(configPath, 'utf8'))
  } catch {
    throw new ConfigError(`${configPath} is not valid JSON; this run folder cannot be resumed.`)
  }
  if (!earlier.recipe || typeof earlier.data?.store !== 'string') {
    throw new ConfigError(
      `${configPath} has no training recipe (not written by "pcam train"); choose another --out, e.g. ${freeRunFolder(out)}.`,
    )
  }
  const before = comparable(earlier.recipe, earlier.data.store)
  const now = comparable(
    JSON.parse(JSON.stringify({ ...config, store: undefined })) as Record<string, unknown>,
    config.store,
  )
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
