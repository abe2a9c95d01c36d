/**
 * The run folder (DESIGN.md): config.json, metrics.jsonl (one line per epoch), model.safetensors
 * (the best weights so far), and for resuming last.safetensors + optimizer.safetensors +
 * state.json. Every file is written under a temporary name and renamed; the three resume files
 * carry one generation number, so a set torn by a crash is detected instead of loaded. state.json
 * is written last and is the commit of an epoch: metrics.jsonl is rewritten from its history
 * after it, and again on resume.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DataError } from '../errors.js'
import type { Module } from '../nn/index.js'
import { fromBytes, getRngState, noGrad, setRngState, type Tensor } from '../torch/index.js'
import { readSafetensors, writeSafetensors } from '../weights/safetensors.js'
import type { EpochRecord, FitPosition, Learner } from './learner.js'

export interface ResumeState {
  generation: number
  /** Where the interrupted fit stands. */
  position: FitPosition
  /** Optimizer step counts per parameter (Adam's bias correction). */
  steps: Record<string, number>
  rngState: string
  history: EpochRecord[]
  bestAuc: number
}

async function atomicWrite(path: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${path}.tmp`
  await write(tmp)
  await rename(tmp, path)
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await atomicWrite(path, (tmp) => writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`))
}

/**
 * Rewrites metrics.jsonl whole from the committed history (state.json is the commit): an epoch
 * is listed once or not at all, whatever moment a crash picks.
 */
export async function writeMetrics(dir: string, history: readonly EpochRecord[]): Promise<void> {
  const path = join(dir, 'metrics.jsonl')
  await atomicWrite(path, (tmp) =>
    writeFile(tmp, history.map((r) => `${JSON.stringify(r)}\n`).join('')),
  )
}

/** Writes tensors as safetensors under a temporary name, then renames. */
export async function saveTensors(
  path: string,
  tensors: Map<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await atomicWrite(path, (tmp) => writeSafetensors(tmp, tensors, metadata))
}

export async function saveModel(
  path: string,
  model: Module,
  metadata: Record<string, string> = {},
): Promise<void> {
  await saveTensors(path, model.stateDict(), metadata)
}

/** Everything needed to continue the fit exactly where it stands. */
export async function saveResumeState(
  dir: string,
  learn: Learner,
  position: FitPosition,
  bestAuc: number,
): Promise<void> {
  await mkdir(dir, { recursive: true })
  const previous = existsSync(join(dir, 'state.json'))
    ? (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as ResumeState).generation
    : 0
  const generation = previous + 1
  const tag = { generation: String(generation) }
  await saveModel(join(dir, 'last.safetensors'), learn.model, tag)
  const tensors = new Map<string, Tensor>()
  const steps: Record<string, number> = {}
  learn.optimizer.paramGroups.forEach((group, g) =>
    group.params.forEach((p, i) => {
      const state = learn.optimizer.state.get(p) as Record<string, unknown> | undefined
      for (const [key, value] of Object.entries(state ?? {})) {
        if (typeof value === 'number') steps[`${g}.${i}.${key}`] = value
        else if (value) tensors.set(`${g}.${i}.${key}`, value as Tensor)
      }
    }),
  )
  await saveTensors(join(dir, 'optimizer.safetensors'), tensors, tag)
  const rng = getRngState()
  const state: ResumeState = {
    generation,
    position,
    steps,
    rngState: Buffer.from(rng.bytes()).toString('base64'),
    history: learn.history,
    bestAuc,
  }
  rng.dispose()
  await writeJson(join(dir, 'state.json'), state)
}

/** Restores weights, optimizer state and RNG from a run folder; returns where to continue. */
export function loadResumeState(dir: string, learn: Learner): ResumeState {
  const statePath = join(dir, 'state.json')
  if (!existsSync(statePath))
    throw new DataError(
      `${dir} has no state.json: nothing to resume (was it started by "pcam train"?)`,
    )
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as ResumeState
  const model = readSafetensors(join(dir, 'last.safetensors'))
  const optimizer = readSafetensors(join(dir, 'optimizer.safetensors'))
  const tags: [string, string | undefined][] = [
    ['last.safetensors', model.metadata.generation],
    ['optimizer.safetensors', optimizer.metadata.generation],
  ]
  for (const [file, tag] of tags) {
    if (Number(tag) !== state.generation) {
      throw new DataError(
        `${join(dir, file)} is from another checkpoint than state.json (a crash while saving?). Start the run again.`,
      )
    }
  }
  learn.model.loadStateDict(model.tensors)
  noGrad(() => {
    learn.optimizer.paramGroups.forEach((group, g) =>
      group.params.forEach((p, i) => {
        const entries: Record<string, unknown> = {}
        for (const [key, value] of optimizer.tensors)
          if (key.startsWith(`${g}.${i}.`)) entries[key.slice(`${g}.${i}.`.length)] = value
        for (const [key, value] of Object.entries(state.steps))
          if (key.startsWith(`${g}.${i}.`)) entries[key.slice(`${g}.${i}.`.length)] = value
        if (Object.keys(entries).length > 0) learn.optimizer.state.set(p, entries)
      }),
    )
  })
  for (const t of model.tensors.values()) t.dispose()
  const rng = fromBytes(Buffer.from(state.rngState, 'base64'), 'uint8', [
    Buffer.from(state.rngState, 'base64').length,
  ])
  setRngState(rng)
  rng.dispose()
  learn.history.push(...state.history)
  return state
}
