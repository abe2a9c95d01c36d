/**
 * `pcam bench recipe`: a whole training recipe, as a user runs it, in pcam (`pcam train --recipe
 * <name>` in a child process) and in a plain PyTorch script of the same recipe
 * (bench/recipe_torch.py), back to back on the same store, from the same initial weights. Reports
 * wall time, each epoch's training images/s and validation seconds, and resident memory.
 * @module
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DataError, ValidationError } from '../errors.js'
import { PatchStore } from '../data/store.js'
import { trainConfig, type TrainConfig } from '../recipe/train-config.js'
import { initialModel, normalizationFor } from '../recipe/setup.js'
import { recipeStages } from '../recipe/train.js'
import { withPreset } from '../recipe/presets.js'
import type { ComputeRequest } from '../learn/precision.js'
import { readHistory } from '../run/run-folder.js'
import { getNumThreads, mallocEnvironment, manualSeed } from '../torch/index.js'
import { resolvePretrained } from '../weights/registry.js'
import { writeSafetensors } from '../weights/safetensors.js'
import { PACKAGE_ROOT } from '../paths.js'
import { torchPython } from './python.js'
import { alternate, pairOrder, type Side } from './rounds.js'

export const RECIPE_PEER_SCRIPT = join(PACKAGE_ROOT, 'bench', 'recipe_torch.py')
const PCAM_BIN = join(PACKAGE_ROOT, 'bin', 'pcam.js')

/** precision and device (default auto): both sides run what they resolve to. */
export interface RecipeBenchOptions extends ComputeRequest {
  store: string
  recipe: string
  pcamOnly?: boolean
  /**
   * Pairs of runs (default 1). From two on, the pairs alternate who goes first (pcam then
   * PyTorch, then PyTorch then pcam, ...), so a machine that drifts over the half hour of a pair
   * favours neither side.
   */
  pairs?: number
  /** Aborting stops the run in progress (its process is killed) and removes the temporary runs. */
  signal?: AbortSignal
  onProgress?: (message: string) => void
}

/** One epoch of one side. */
export interface EpochFigures {
  stage: string
  epoch: number
  trainSeconds: number
  validSeconds: number
  imagesPerSec: number
  auc: number
}

export interface SideFigures {
  /** Wall time of the whole command, from start to exit. */
  seconds: number
  epochs: EpochFigures[]
  /** Training images/s per stage: the mean over its epochs. */
  stages: Record<string, number>
  /** Last epoch's images/s over the first's, within the longest stage (1: flat). */
  lastOverFirst: number
  peakRssMb: number | null
}

/** One pair of runs: who went first, each side's wall time and epoch images/s. */
export interface RecipePair {
  order: Side[]
  pcam_seconds: number
  torch_seconds: number | null
  pcam_last_over_first: number
  torch_last_over_first: number | null
  /** Training images/s of each epoch, in order. */
  pcam_images_per_sec: number[]
  torch_images_per_sec: number[] | null
}

export interface RecipeBenchResult {
  recipe: string
  threads: number
  /** What both sides computed in, and where. */
  precision: TrainConfig['precision']
  device: TrainConfig['device']
  /** The first pair's figures, epoch by epoch. */
  pcam: SideFigures
  torch: SideFigures | null
  /** Every pair's wall times. */
  pairs: RecipePair[]
  /** Mean wall time over the pairs. */
  pcam_seconds: number
  torch_seconds: number | null
  /** PyTorch seconds over pcam seconds (means over the pairs): above 1, pcam is faster. */
  ratio: number | null
}

/**
 * Runs a command to its end, sampling its resident memory (Linux) every half second. An abort
 * kills the command and rejects once it has exited, so nothing still writes into the run folder.
 */
function runMeasured(
  command: string,
  args: string[],
  input: string | null,
  onLine: (line: string) => void,
  options: { env?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<{ seconds: number; stdout: string; peakRssMb: number | null }> {
  const interrupted = () => new DataError('Interrupted; the temporary runs were removed.')
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(interrupted())
    const started = performance.now()
    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    })
    const kill = () => child.kill('SIGKILL')
    options.signal?.addEventListener('abort', kill, { once: true })
    let stdout = ''
    let stderr = ''
    let peak: number | null = null
    const sample = setInterval(() => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
        const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1])
        if (Number.isFinite(kb)) peak = Math.max(peak ?? 0, Math.round(kb / 1024))
      } catch {
        // Not Linux, or the child has just exited.
      }
    }, 500)
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      for (const line of chunk.toString().split(/[\r\n]/)) if (line.trim()) onLine(line.trim())
    })
    child.on('error', reject)
    child.on('close', (code) => {
      clearInterval(sample)
      options.signal?.removeEventListener('abort', kill)
      if (options.signal?.aborted) reject(interrupted())
      else if (code !== 0)
        reject(new DataError(`${command} ${args[0]} failed (exit ${code}): ${stderr.slice(-2000)}`))
      else resolve({ seconds: (performance.now() - started) / 1000, stdout, peakRssMb: peak })
    })
    child.stdin.end(input ?? '')
  })
}

function summarise(seconds: number, epochs: EpochFigures[], peakRssMb: number | null): SideFigures {
  const stages: Record<string, number> = {}
  const byStage = new Map<string, EpochFigures[]>()
  for (const e of epochs) byStage.set(e.stage, [...(byStage.get(e.stage) ?? []), e])
  for (const [stage, list] of byStage)
    stages[stage] = list.reduce((sum, e) => sum + e.imagesPerSec, 0) / list.length
  const longest = [...byStage.values()].sort((a, b) => b.length - a.length)[0] ?? []
  const first = longest[0]?.imagesPerSec ?? NaN
  const last = longest.at(-1)?.imagesPerSec ?? NaN
  return { seconds, epochs, stages, lastOverFirst: last / first, peakRssMb }
}

async function pcamSide(
  options: RecipeBenchOptions,
  config: Pick<TrainConfig, 'precision' | 'device'>,
  out: string,
  onProgress: (m: string) => void,
): Promise<SideFigures> {
  const args = [PCAM_BIN, 'train', '--recipe', options.recipe, '--data', options.store]
  args.push('--precision', config.precision, '--device', config.device)
  const { seconds, peakRssMb } = await runMeasured(
    process.execPath,
    [...args, '--out', out],
    null,
    (line) => {
      if (/done:|^epoch|^(frozen|unfrozen|train) \d/.test(line)) onProgress(`pcam: ${line}`)
    },
    { signal: options.signal },
  )
  const epochs = readHistory(out).map((r) => ({
    stage: r.stage,
    epoch: r.epoch + 1,
    trainSeconds: r.seconds,
    validSeconds: r.validSeconds,
    imagesPerSec: r.imagesPerSec,
    auc: r.auc,
  }))
  return summarise(seconds, epochs, peakRssMb)
}

/** What the PyTorch script needs to run the same recipe from the same weights (written to `dir`). */
export async function recipePeerRequest(config: TrainConfig, dir: string, threads: number) {
  if (config.sizes)
    throw new ValidationError(
      'The PyTorch peer of "pcam bench recipe" has no progressive resizing: give a recipe without --sizes',
    )
  const store = PatchStore.open(config.store)
  try {
    manualSeed(config.seed)
    const model = initialModel(config)
    try {
      const weights = join(dir, 'initial.safetensors')
      const state = model.stateDict()
      await writeSafetensors(weights, state)
      const groupOf = new Map<unknown, number>()
      model.layerGroups().forEach((params, g) => params.forEach((p) => groupOf.set(p, g)))
      const groups = Object.fromEntries(
        [...model.namedParameters()].map(([name, p]) => [name, groupOf.get(p) as number]),
      )
      const lr = config.lr === 'auto' ? 1e-3 : config.lr
      return {
        threads,
        store: config.store,
        weights,
        arch: config.arch,
        alpha: model.spec.alpha ?? 1,
        head: config.head,
        groups,
        stages: recipeStages(config, lr),
        trainBn: config.trainBn ?? true,
        batchSize: config.batchSize,
        seed: config.seed,
        precision: config.precision,
        device: config.device,
        augment: config.augment,
        normalization: normalizationFor(config, store),
        size: config.size ?? store.meta.height,
        wd: config.wd,
      }
    } finally {
      model.dispose()
    }
  } finally {
    store.dispose()
  }
}

async function torchSide(
  request: unknown,
  onProgress: (m: string) => void,
  signal?: AbortSignal,
): Promise<SideFigures> {
  const { seconds, stdout, peakRssMb } = await runMeasured(
    torchPython(),
    [RECIPE_PEER_SCRIPT],
    JSON.stringify(request),
    (line) => onProgress(`PyTorch: ${line}`),
    // PyTorch at its best: the glibc allocator settings pcam sets for itself.
    { env: mallocEnvironment(), signal },
  )
  const reply = JSON.parse(stdout) as { epochs: EpochFigures[] }
  return summarise(seconds, reply.epochs, peakRssMb)
}

export async function benchRecipe(options: RecipeBenchOptions): Promise<RecipeBenchResult> {
  const onProgress = options.onProgress ?? (() => {})
  const pairs = options.pairs ?? 1
  if (!Number.isInteger(pairs) || pairs < 1)
    throw new ValidationError(`--pairs must be a whole number of at least 1, not ${pairs}`)
  const { pretrained, ...settings } = withPreset(options.recipe, {
    store: options.store,
    precision: options.precision,
    device: options.device,
  })
  const config = trainConfig(settings)
  if (config.lr === 'auto')
    throw new DataError(
      `Recipe ${options.recipe} finds its rate; pcam bench recipe needs a fixed --lr`,
    )
  if (config.ema !== undefined || config.swaEpochs || config.ensemble)
    throw new DataError(
      `Recipe ${options.recipe} averages weights or models; the PyTorch script runs single plain recipes`,
    )
  config.pretrained = await resolvePretrained(pretrained, config.arch)
  const threads = getNumThreads()
  const dir = mkdtempSync(join(tmpdir(), 'pcam-bench-recipe-'))
  try {
    const request = options.pcamOnly ? null : await recipePeerRequest(config, dir, threads)
    const of = (pair: number) => (pairs > 1 ? ` (pair ${pair + 1}/${pairs})` : '')
    const runs = await alternate({
      rounds: pairs,
      pcam: async (pair) => {
        onProgress(`pcam train --recipe ${options.recipe}${of(pair)}`)
        const out = join(dir, `run-${pair}`)
        const figures = await pcamSide(options, config, out, onProgress)
        rmSync(out, { recursive: true, force: true })
        return figures
      },
      peer: request
        ? (pair) => {
            onProgress(`PyTorch (bench/recipe_torch.py), the same recipe${of(pair)}`)
            return torchSide(request, onProgress, options.signal)
          }
        : null,
    })
    const order = Array.from({ length: pairs }, (_, pair) =>
      pairOrder(pair).filter((side) => side === 'pcam' || request !== null),
    )
    const mean = (list: SideFigures[]) => list.reduce((sum, r) => sum + r.seconds, 0) / list.length
    const pcamSeconds = mean(runs.pcam)
    const torchSeconds = request ? mean(runs.peer) : null
    return {
      recipe: options.recipe,
      threads,
      precision: config.precision,
      device: config.device,
      pcam: runs.pcam[0] as SideFigures,
      torch: runs.peer[0] ?? null,
      pairs: order.map((sides, i) => ({
        order: sides,
        pcam_seconds: (runs.pcam[i] as SideFigures).seconds,
        torch_seconds: runs.peer[i]?.seconds ?? null,
        pcam_last_over_first: (runs.pcam[i] as SideFigures).lastOverFirst,
        torch_last_over_first: runs.peer[i]?.lastOverFirst ?? null,
        pcam_images_per_sec: (runs.pcam[i] as SideFigures).epochs.map((e) => e.imagesPerSec),
        torch_images_per_sec: runs.peer[i]?.epochs.map((e) => e.imagesPerSec) ?? null,
      })),
      pcam_seconds: pcamSeconds,
      torch_seconds: torchSeconds,
      ratio: torchSeconds === null ? null : torchSeconds / pcamSeconds,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
