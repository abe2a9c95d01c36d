/**
 * The run folder's format (docs/formats.md), owned here and nowhere else: what config.json,
 * metrics.jsonl and state.json hold, typed, and how they are read and written. Training writes
 * them, evaluation, prediction, export, slides and the server read them. Every file is written
 * under a temporary name and renamed, so a crash leaves the old file or the new one, never half.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Normalization } from '../data/augment.js'
import { sourceMpp, type StoreMeta } from '../data/store.js'
import { DataError } from '../errors.js'
import type { ModelSpec } from '../models/registry.js'

/** The files of a run folder. */
export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  state: 'state.json',
  /** The best weights so far. */
  model: 'model.safetensors',
  /** The latest weights and the optimizer's state, for resuming. */
  last: 'last.safetensors',
  optimizer: 'optimizer.safetensors',
  /** The tensors of callbacks with state (the averaged weights of --ema, --swa-epochs), for resuming. */
  callbacks: 'callbacks.safetensors',
  /** The best weights under torchvision's names, for architectures that have that form. */
  torchvision: 'torchvision.safetensors',
  /** The LR finder's curve and suggestions. */
  lrFind: 'lr-find.json',
  onnx: 'model.onnx',
} as const

/** One line of metrics.jsonl: an epoch's training and validation figures. */
export interface EpochRecord {
  /** The epoch's stage: frozen, unfrozen or train (`-<size>` added with --sizes), swa, ensemble. */
  stage: string
  /** Index of the epoch within its stage, from 0. */
  epoch: number
  /** Mean training loss per image over the epoch. */
  trainLoss: number
  /** Mean loss per patch of the validation pass. */
  validLoss: number
  /** Share of validation patches classified right (two classes: at probability 0.5). */
  accuracy: number
  /** 1 - accuracy. */
  errorRate: number
  /** Validation ROC AUC (macro one-vs-rest with more than two classes). */
  auc: number
  /** Seconds of training (loading included). */
  seconds: number
  /** Training images per second over the epoch. */
  imagesPerSec: number
  /** Seconds of the validation pass. */
  validSeconds: number
  /** The process's resident memory after the validation pass, in MiB. */
  rssMb: number
  /** Further metrics by name (per-class AUC with k classes, a user's own). */
  [metric: string]: number | string
}

/** Where a fit stands: the stage, the epoch and the batches of it already done. */
export interface FitPosition {
  /** The fit's stage, as in EpochRecord.stage (frozen, unfrozen, train, ...). */
  stage: string
  /** Index of the epoch within its stage, from 0: the one stopped in, or to start from. */
  epoch: number
  /** Batches of `epoch` already done. */
  batch: number
  /** Mid-epoch: the done batches' summed loss, images and seconds, so the epoch's record comes out as if never stopped. */
  partial?: {
    /** Sum of the done batches' training losses, each weighted by its images. */
    lossSum: number
    /** Training images done. */
    seen: number
    /** Seconds the done batches took. */
    seconds: number
  }
}

/** The decision threshold a run carries: chosen on the valid split at its best epoch. */
export interface RunThreshold {
  /** The threshold on the positive class's probability. */
  value: number
  /** The rule that chose it, as `--threshold` takes it: a number, youden or `sensitivity:0.95`. */
  rule: string
  /** The split it was chosen on: always valid. */
  chosenOn: 'valid'
  /** The stage of the best epoch, whose validation outputs it was chosen on. */
  stage: string
  /** That epoch, counted from 0 within its stage. */
  epoch: number
}

/** config.json: what the run is, written when it starts and updated at each best epoch. */
export interface RunConfig {
  /** Version of pcam that wrote it. */
  pcamVersion?: string
  /** What the model is built from: architecture, outputs, head. */
  model: ModelSpec
  /** Class names, in label index order (the store's). */
  classes: string[]
  /** Side of the training patches (the network sees them resized to inputSize). */
  patchSize?: number
  /** Side of the square input the network sees, in pixels. */
  inputSize: number
  /** Micrometres per pixel of the training patches, when the store recorded it. */
  mpp?: number
  /** Channel statistics inputs are normalised with: a pretrained backbone's, else the store's. */
  normalization: Normalization
  /**
   * The training settings (TrainConfig without the store and the folder); precision,
   * precisionReason and device say how it computed (runs from before --precision record
   * mixedPrecision instead). With `ema` (decay) or `swaEpochs`, model.safetensors holds the
   * averaged weights, not the trained ones.
   */
  recipe: {
    /** The precision training computed in (`--precision`). */
    precision?: 'fp32' | 'bf16' | 'fp16'
    /** Why that precision was chosen, in words. */
    precisionReason?: string
    /** Where training computed: cpu, or a GPU such as cuda:0. */
    device?: string
    /** Runs from before --precision: whether they trained in bf16. */
    mixedPrecision?: boolean
    /** Decay of the exponential moving average of the weights (`--ema`). */
    ema?: number
    /** Epochs of stochastic weight averaging (`--swa-epochs`). */
    swaEpochs?: number
  } & Record<string, unknown>
  /** The data the run was trained on. */
  data?: {
    /** The patch store's folder, as given (`--data`). */
    store: string
    /** The store's source (its meta.json's). */
    source: StoreMeta['source']
    /** How the store's splits were made, in words. */
    splitMethod: string
  }
  /** Chosen on the valid split at the best epoch (absent before the first epoch ends). */
  threshold?: RunThreshold
  /** The best epoch's validation figures. */
  validation?: EpochRecord
  /** Present in an ensemble's folder (`pcam train --ensemble`): see src/run/ensemble.ts. */
  ensemble?: EnsembleInfo
}

/** An ensemble's members: subfolders of its run folder, each a complete ordinary run. */
export interface EnsembleInfo {
  /** The members' subfolder names, in seed order (seed, seed + 1, ...). */
  members: string[]
}

/** state.json: everything besides tensors that continuing an interrupted fit needs. */
export interface ResumeState {
  /** Shared with last.safetensors and optimizer.safetensors, so a torn set is detected. */
  generation: number
  /** Where the interrupted fit stands. */
  position: FitPosition
  /** Optimizer step counts per parameter (Adam's bias correction). */
  steps: Record<string, number>
  /** The CPU generator's state (base64): model init, data order and dropout on the CPU. */
  rngState: string
  /**
   * A CUDA run's GPU generator state (base64): dropout and random ops on the GPU. Restored when
   * the run resumes on a GPU; a resume on the CPU has no use for it.
   */
  cudaRngState?: string
  /** Counts of callbacks with state, by name (EMA's updates, SWA's models averaged). */
  callbacks?: Record<string, Record<string, number>>
  /** The epochs so far: the best epoch and early stopping's count are derived from it. */
  history: EpochRecord[]
}

/** lr-find.json: the LR finder's curve and suggestions (`pcam lr-find`, `pcam train --lr auto`). */
export interface LrFindResult {
  /** The learning rates tried, one per batch, growing exponentially. */
  lrs: number[]
  /** The smoothed training loss at each rate (bias-corrected exponential average). */
  losses: number[]
  /** The rate where the smoothed loss falls fastest (steepest descent). */
  suggestion: number
  /** One tenth of the rate at the lowest loss, fastai's older rule. */
  minimumTenth: number
}

/** Writes a file under a temporary name, then renames it into place. */
export async function atomicWrite(
  path: string,
  write: (tmp: string) => Promise<void>,
): Promise<void> {
  const tmp = `${path}.tmp`
  await write(tmp)
  await rename(tmp, path)
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await atomicWrite(path, (tmp) => writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`))
}

/** A JSON file; a DataError that names it when it is not valid JSON (a missing one throws ENOENT). */
export function readJson<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error
    throw new DataError(`${path} is not valid JSON (${(error as Error).message}).`)
  }
}

/** The run's config.json; a DataError that names the file when it is missing or unusable. */
export function readRunConfig(dir: string): RunConfig {
  const path = join(dir, RUN_FILES.config)
  if (!existsSync(path))
    throw new DataError(`${path} not found: is ${dir} a run folder written by "pcam train"?`)
  const config = readJson<RunConfig>(path)
  if (config.ensemble && !config.model)
    throw new DataError(
      `${dir} is an ensemble whose members have not all finished training; run the same "pcam train" command to finish it.`,
    )
  if (!config.model) {
    throw new DataError(
      `${path} has no model spec (an earlier pcam wrote it); train the run again.`,
    )
  }
  return config
}

export async function writeRunConfig(dir: string, config: RunConfig): Promise<void> {
  await writeJson(join(dir, RUN_FILES.config), config)
}

/** What an ensemble's config.json holds while its members train: what a resume is compared on. */
export interface PendingEnsembleConfig {
  pcamVersion: string
  recipe: RunConfig['recipe']
  data: { store: string }
  ensemble: { members: string[] }
}

/** The ensemble's config.json before its members are done (writeRunConfig replaces it then). */
export async function writePendingEnsembleConfig(
  dir: string,
  config: PendingEnsembleConfig,
): Promise<void> {
  await writeJson(join(dir, RUN_FILES.config), config)
}

/** Records a new best epoch in config.json: its threshold and validation figures. */
export async function recordBestEpoch(
  dir: string,
  threshold: RunThreshold,
  validation: EpochRecord,
): Promise<void> {
  await writeRunConfig(dir, { ...readRunConfig(dir), threshold, validation })
}

/** metrics.jsonl, one record per committed epoch ([] before the first). */
export function readHistory(dir: string): EpochRecord[] {
  const path = join(dir, RUN_FILES.metrics)
  if (!existsSync(path)) return []
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as EpochRecord
      } catch {
        throw new DataError(`${path} line ${i + 1} is not valid JSON.`)
      }
    })
}

/**
 * Rewrites metrics.jsonl whole from the committed history (state.json is the commit): an epoch
 * is listed once or not at all, whatever moment a crash picks.
 */
export async function writeHistory(dir: string, history: readonly EpochRecord[]): Promise<void> {
  await atomicWrite(join(dir, RUN_FILES.metrics), (tmp) =>
    writeFile(tmp, history.map((r) => `${JSON.stringify(r)}\n`).join('')),
  )
}

/** Whether the folder holds a committed checkpoint to resume from. */
export function hasResumeState(dir: string): boolean {
  return existsSync(join(dir, RUN_FILES.state))
}

export function readResumeState(dir: string): ResumeState {
  const path = join(dir, RUN_FILES.state)
  if (!existsSync(path))
    throw new DataError(
      `${dir} has no state.json: nothing to resume (was it started by "pcam train"?)`,
    )
  return readJson<ResumeState>(path)
}

/** state.json is written last: it commits an epoch (or the batch a fit stopped at). */
export async function writeResumeState(dir: string, state: ResumeState): Promise<void> {
  await writeJson(join(dir, RUN_FILES.state), state)
}

/** The folder's lr-find.json, null when it has none. */
export function readLrFind(dir: string): LrFindResult | null {
  const path = join(dir, RUN_FILES.lrFind)
  return existsSync(path) ? readJson<LrFindResult>(path) : null
}

/**
 * The µm/px of the patches a run was trained on: its config's, else what its store's source
 * implies (PCam, Kaggle), else undefined (unknown).
 */
export function runMpp(config: RunConfig): number | undefined {
  return config.mpp ?? sourceMpp(config.data?.source.kind)
}

/** The decision threshold a run carries, 0.5 when it has none yet. */
export function runThreshold(config: RunConfig): number {
  return config.threshold?.value ?? 0.5
}

/** The side of the patches the run was trained on (runs before patchSize was recorded: the input size). */
export function runPatchSize(config: RunConfig): number {
  return config.patchSize ?? config.inputSize
}
