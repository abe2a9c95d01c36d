/**
 * The training recipe behind `pcam train`: a store, an architecture, optionally pretrained
 * weights; a frozen stage (head only) then an unfrozen stage with discriminative learning rates,
 * each with the one-cycle policy; checkpoints of the best and last state; exact resume. Its
 * settings are in train-config.ts, its store, model and loaders in setup.ts.
 * @module
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { TorchError } from '../errors.js'
import { ProcessGroup, setCurrentDevice } from '../torch/index.js'
import { chooseBackend, DataParallel } from '../learn/data-parallel.js'
import { rankDevice } from '../learn/precision.js'
import { recipeOf, runFolderMode } from './run-mode.js'
import { PCAM_VERSION } from '../version.js'
import { lrFind, saveLrFind } from '../learn/lr-find.js'
import { isCheckpointed, loadResumeState } from '../learn/checkpoint.js'
import { Learner, type BatchInfo, type Callback } from '../learn/learner.js'
import {
  hasResumeState,
  readLrFind,
  writeRunConfig,
  type RunConfig,
  type EpochRecord,
  type FitPosition,
  type LrFindResult,
} from '../run/run-folder.js'
import { DataParallelSync } from '../learn/callbacks/data-parallel.js'
import { EarlyStopping } from '../learn/callbacks/early-stopping.js'
import { GradientClipping } from '../learn/callbacks/gradient-clipping.js'
import { precisionCallbacks } from '../learn/callbacks/mixed-precision.js'
import { ReportProgress } from '../learn/callbacks/progress.js'
import { RunCheckpoint } from '../learn/callbacks/run-checkpoint.js'
import { SaveBest } from '../learn/callbacks/save-best.js'
import { StopOnRequest } from '../learn/callbacks/stop-on-request.js'
import { TensorBoardLogger } from '../learn/callbacks/tensorboard.js'
import { fitTopLosses } from '../eval/top-losses.js'
import { plotLrFind } from '../eval/lr-find-plot.js'
import { fineTuneStages, runStages, splitBySize, type Stage } from '../learn/fine-tune.js'
import { ExponentialMovingAverage } from '../learn/callbacks/ema.js'
import { StochasticWeightAveraging, SWA_STAGE, swaStage } from '../learn/callbacks/swa.js'
import { trainEnsemble, type MemberInfo } from './ensemble.js'
import { setUp, type Setup } from './setup.js'
import type { TrainConfig } from './train-config.js'

/** What train reports as it goes, and how it is asked to stop. */
export interface TrainHooks {
  /** Called after every training batch with the fit's progress. */
  onBatch?: (info: BatchInfo) => void
  /** Called after every validated epoch with its record (a line of metrics.jsonl). */
  onEpoch?: (record: EpochRecord) => void
  /** Called with the rate the LR finder suggested, when lr is 'auto' and the sweep ran. */
  onLrFound?: (lr: number) => void
  /** The run folder held a checkpoint of the same run: training goes on from it. */
  onResume?: () => void
  /** An ensemble's member is about to train (or resume). */
  onMember?: (info: MemberInfo) => void
  /** Stops after the current batch with a checkpoint. */
  signal?: AbortSignal
  /**
   * Polled after every batch, for callers whose signal cannot fire while the batch loop runs
   * synchronously (a worker thread reading a shared flag); true stops like the signal.
   */
  stopRequested?: () => boolean
}

/** How a training run ended. */
export interface TrainResult {
  /** The run folder. */
  out: string
  /** False when stopped on request (checkpoint saved); true when finished, early stop included. */
  completed: boolean
  /** Every validated epoch's record, resumed ones included. */
  history: EpochRecord[]
  /** The best valid ROC AUC among the candidate epochs (with --sizes, those at the last size). */
  bestAuc: number
  /** The rate used (the finder's suggestion when lr was 'auto'). */
  lr: number
  /** An ensemble's members' results so far (bestAuc above is then the ensemble's valid AUC). */
  members?: TrainResult[]
}

/**
 * The stages a config trains at peak rate `lr`: frozen then unfrozen for a pretrained backbone,
 * one stage from scratch (either split by size for progressive resizing), and SWA's after them
 * when asked for.
 */
export function recipeStages(config: TrainConfig, lr: number): Stage[] {
  let stages: Stage[] = config.pretrained
    ? fineTuneStages({ epochs: config.epochs, lr, freezeEpochs: config.freezeEpochs })
    : [{ stage: 'train', epochs: config.epochs, lr, frozen: false }]
  const sizes = config.sizes
  if (sizes)
    stages = stages.flatMap((s) => (s.frozen ? [{ ...s, size: sizes[0] }] : splitBySize(s, sizes)))
  if (config.swaEpochs) stages.push(swaStage(stages.at(-1) as Stage, config.swaEpochs))
  return stages
}

/**
 * The stages whose epochs may give the run's model: with progressive resizing, those at the
 * final size (the model's input size); otherwise all.
 */
function candidateStages(config: TrainConfig, stages: Stage[]): string[] | undefined {
  if (!config.sizes) return undefined
  const final = config.sizes.at(-1)
  return stages.filter((s) => s.size === final).map((s) => s.stage)
}

/** The Learner of a config: its optimizer, loss and training mechanics, for the sweep and the fit alike. */
function learnerFor(config: TrainConfig, setup: Setup, dp?: DataParallel): Learner {
  return new Learner(setup.model, setup.trainLoader, setup.validLoader, {
    wd: config.wd,
    wdSkipNorm: config.wdSkipNorm,
    labelSmoothing: config.labelSmoothing,
    opt: config.opt,
    trainBn: config.trainBn,
    callbacks: mechanics(config, dp),
  })
}

/** The LR finder as the run starts: head only when a pretrained backbone is frozen first. */
function sweep(learn: Learner, config: TrainConfig, dp?: DataParallel): Promise<LrFindResult> {
  if (config.pretrained !== null && config.freezeEpochs > 0) learn.freeze()
  return lrFind(learn, { dataParallel: dp })
}

/** Runs the LR finder for a config, on the Learner train would use. */
export async function findLearningRate(config: TrainConfig): Promise<LrFindResult> {
  const setup = setUp(config, false)
  const learn = learnerFor(config, setup)
  try {
    return await sweep(learn, config)
  } finally {
    learn.dispose()
    setup.close()
  }
}

/** Joins the process group of a distributed config (every rank blocks here until all have). */
function joinGroup(config: TrainConfig): DataParallel | undefined {
  const d = config.distributed
  if (!d || d.worldSize === 1) return undefined
  const group = ProcessGroup.init({
    rank: d.rank,
    worldSize: d.worldSize,
    masterAddr: d.masterAddr,
    masterPort: d.masterPort,
    timeoutMs: d.timeoutMs,
    backend: chooseBackend(d.backend ?? 'auto', config.device),
    device: config.device,
  })
  return new DataParallel(group, { bnStats: d.bnStats })
}

/**
 * A rank's own config: on GPUs, each local rank computes on its own one, which becomes the
 * training thread's current GPU.
 */
function forRank(config: TrainConfig): TrainConfig {
  const d = config.distributed
  const device = d && d.worldSize > 1 ? rankDevice(config.device, d.localRank ?? 0) : config.device
  setCurrentDevice(device)
  return device === config.device ? config : { ...config, device }
}

/**
 * Trains a run (`pcam train`) into config.out, or resumes it from its checkpoint there; an
 * ensemble trains its members one after another.
 */
export async function train(given: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  if ((given.ensemble ?? 1) > 1) return trainEnsemble(given, hooks, train)
  const config = forRank(given)
  // One rank writes the run folder (and judges it before writing); the others read it.
  const writer = (config.distributed?.rank ?? 0) === 0
  const resuming = writer ? runFolderMode(config) === 'resume' : hasResumeState(config.out)
  const dp = joinGroup(config)
  try {
    // The folder is made only once the store, the model and its weights have loaded: a failure
    // there leaves nothing behind.
    const setup = setUp(config, resuming)
    try {
      await mkdir(config.out, { recursive: true })
      return await trainWith(config, hooks, setup, { dp, writer, resuming })
    } catch (error) {
      throw outOfMemoryAdvice(error, config)
    } finally {
      setup.close()
    }
  } finally {
    dp?.group.destroy()
  }
}

/**
 * libtorch's out-of-memory error (several lines on a GPU, about allocator settings) as one line
 * that says what to change: the batch size, then the precision; the run folder keeps its last
 * checkpoint. Any other error is returned as it is.
 */
export function outOfMemoryAdvice(error: unknown, config: TrainConfig): unknown {
  if (!(error instanceof TorchError) || error.code !== 'TORCH_OUT_OF_MEMORY') return error
  const where = config.device === 'cpu' ? 'the CPU' : `the GPU (${config.device})`
  const smaller = Math.max(2, Math.floor(config.batchSize / 2))
  const precision =
    config.precision === 'fp32' && config.device !== 'cpu'
      ? ', or --precision auto (half-precision activations take half the memory)'
      : ''
  return new TorchError(
    `Out of memory on ${where} at --batch-size ${config.batchSize}: lower it (--batch-size ` +
      `${smaller})${precision}. ${config.out} keeps its last checkpoint; a smaller batch is a new ` +
      'run, in another --out.',
    'TORCH_OUT_OF_MEMORY',
    { cause: error },
  )
}

/**
 * The callbacks of the training itself: mixed precision (with loss scaling for fp16), gradient
 * clipping, data-parallel.
 */
function mechanics(config: TrainConfig, dp?: DataParallel): Callback[] {
  return [
    ...precisionCallbacks(config),
    ...(config.clipGrad ? [new GradientClipping(config.clipGrad)] : []),
    ...(dp ? [new DataParallelSync(dp)] : []),
  ]
}

/** The recipe's stages on a set-up store and model, writing the run folder as it goes. */
async function trainWith(
  config: TrainConfig,
  hooks: TrainHooks,
  setup: Setup,
  { dp, writer, resuming }: { dp: DataParallel | undefined; writer: boolean; resuming: boolean },
): Promise<TrainResult> {
  const { store, model, size, normalization } = setup
  const learn = learnerFor(config, setup, dp)
  const averaging = averagingCallbacks(config)
  const runConfig: RunConfig = {
    pcamVersion: PCAM_VERSION,
    model: model.spec,
    classes: store.meta.classes,
    patchSize: store.meta.height,
    ...((store.meta.mpp ?? config.mpp) === undefined ? {} : { mpp: store.meta.mpp ?? config.mpp }),
    inputSize: size,
    normalization,
    recipe: recipeOf(config),
    data: {
      store: config.store,
      source: store.meta.source,
      splitMethod: store.meta.splitMethod,
    },
  }
  try {
    // The restored history carries the best epoch and early stopping's count on.
    let position: FitPosition | null = null
    if (resuming) {
      // The averages join the learner's callbacks later; loss scaling is among them already.
      const checkpointed = [...learn.callbacks.filter(isCheckpointed), ...averaging]
      position = loadResumeState(config.out, learn, checkpointed).position
      hooks.onResume?.()
    } else if (writer) {
      await writeRunConfig(config.out, runConfig)
    }
    let lr: number
    // A resumed run keeps the rate it started with (a new sweep would also move the RNG).
    const earlierFind = config.lr === 'auto' && resuming ? readLrFind(config.out) : null
    if (earlierFind) {
      lr = earlierFind.suggestion
    } else if (config.lr === 'auto') {
      const found = await sweep(learn, config, dp)
      if (writer) {
        await saveLrFind(config.out, found)
        await plotLrFind(config.out, found)
      }
      lr = found.suggestion
      hooks.onLrFound?.(lr)
    } else {
      lr = config.lr
    }
    const stages = recipeStages(config, lr)
    const candidates = candidateStages(config, stages)
    // The run's own callbacks join after the LR finder, whose sweep they must not record.
    learn.addCallback(
      new ReportProgress(hooks),
      new StopOnRequest(() => Boolean(hooks.signal?.aborted || hooks.stopRequested?.()), dp),
      ...averaging,
    )
    if (config.earlyStop) learn.addCallback(new EarlyStopping(config.earlyStop, 'auc'))
    // Every rank computes the same figures; rank 0 alone writes them.
    if (writer) {
      learn.addCallback(
        new SaveBest(config.out, {
          threshold: config.threshold,
          keepLast: config.swaEpochs ? SWA_STAGE : undefined,
          candidates,
        }),
        new RunCheckpoint(config.out),
      )
      await learn.recorder.logTo(config.out)
      if (config.tensorboard !== false) {
        const topLosses = fitTopLosses({ config: runConfig, threshold: config.threshold })
        learn.addCallback(
          new TensorBoardLogger(join(config.out, 'tensorboard'), {
            pictures: { 'valid/top_losses': topLosses },
          }),
        )
      }
    }
    const completed = await runStages(learn, stages, position)
    const bestAuc = Math.max(
      ...learn.history.filter((r) => !candidates || candidates.includes(r.stage)).map((r) => r.auc),
    )
    return { out: config.out, completed, history: [...learn.history], bestAuc, lr }
  } finally {
    learn.dispose()
    for (const cb of averaging) cb.dispose()
  }
}

/** The weight averages a config asks for: its EMA, or its SWA stage's. */
function averagingCallbacks(
  config: TrainConfig,
): (ExponentialMovingAverage | StochasticWeightAveraging)[] {
  if (config.ema !== undefined) return [new ExponentialMovingAverage(config.ema)]
  return config.swaEpochs ? [new StochasticWeightAveraging()] : []
}
