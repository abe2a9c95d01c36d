/**
 * The training recipe behind `pcam train`: a store, an architecture, optionally pretrained
 * weights; a frozen stage (head only) then an unfrozen stage with discriminative learning rates,
 * each with the one-cycle policy; checkpoints of the best and last state; exact resume.
 * @module
 */
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import {
  AUGMENT_PRESETS,
  IMAGENET_NORMALIZATION,
  KERAS_NORMALIZATION,
  type AugmentOptions,
  type Normalization,
} from '../data/augment.js'
import { MAX_BATCH_SIZE, PatchLoader } from '../data/loader.js'
import { PatchStore } from '../data/store.js'
import { ConfigError, DataError, ValidationError } from '../errors.js'
import {
  ARCHITECTURES,
  createModel,
  type Architecture,
  type HeadKind,
  type ModelSpec,
  type PatchClassifier,
} from '../models/registry.js'
import {
  checkInteger,
  checkNumber,
  manualSeed,
  ProcessGroup,
  setCudnnBenchmark,
} from '../torch/index.js'
import { readSafetensors } from '../weights/safetensors.js'
import { mobilenetV1FromTfjs } from '../weights/tfjs.js'
import { DataParallel, type BnStats } from '../learn/data-parallel.js'
import { recipeOf, runFolderMode } from './run-mode.js'
import { PCAM_VERSION } from '../version.js'
import { lrFind, saveLrFind } from '../learn/lr-find.js'
import { isCheckpointed, loadResumeState } from '../learn/checkpoint.js'
import { Learner, LEARNER_DEFAULTS, type BatchInfo, type Callback } from '../learn/learner.js'
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
import {
  checkDeviceRequest,
  checkPrecision,
  computePlan,
  type ComputePlan,
  type DeviceRequest,
  type Precision,
  type PrecisionRequest,
} from '../learn/precision.js'
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
import type { ThresholdRule } from '../metrics/metrics.js'
import { trainEnsemble, type MemberInfo } from './ensemble.js'

export interface TrainConfig {
  store: string
  out: string
  /**
   * µm/px of the store's patches when its meta.json records none (class folders), so that the
   * run records it and whole-slide prediction needs no --model-mpp; the store's own wins otherwise.
   */
  mpp?: number
  arch: Architecture
  head: HeadKind
  /** null: from scratch; a TF.js MobileNet folder or a .safetensors file of the backbone. */
  pretrained: string | null
  size: number | null
  /**
   * Progressive resizing: the trainable epochs split between these input sizes, smallest first,
   * one one-cycle each (the frozen stage at the first); instead of size.
   */
  sizes?: number[]
  batchSize: number
  freezeEpochs: number
  /** The frozen stage trains the body's batch-norm layers (default true, fastai's train_bn). */
  trainBn?: boolean
  epochs: number
  /** Peak learning rate, or 'auto' for the LR finder's suggestion. */
  lr: number | 'auto'
  seed: number
  wd: number
  /** No weight decay on batch-norm parameters and biases. */
  wdSkipNorm?: boolean
  /** The precision it computes in, resolved from the hardware when asked for 'auto'. */
  precision: Precision
  /** Why that precision: config.json and the epoch table say it. */
  precisionReason: string
  /** Where it computes: the CPU or one GPU. */
  device: ComputePlan['device']
  augment: AugmentOptions | null
  /** Stop a stage when the valid ROC AUC has not improved for this many epochs (0: never). */
  earlyStop?: number
  labelSmoothing?: number
  clipGrad?: number
  opt?: 'adamw' | 'sgd'
  /** How the decision threshold is chosen on the valid split at the best epoch (default 0.5). */
  threshold?: ThresholdRule
  /** Decay of an exponential moving average of the weights, validated and saved instead of them. */
  ema?: number
  /** Epochs of stochastic weight averaging after the last stage; the average is the run's model. */
  swaEpochs?: number
  /** Train as one rank of a data-parallel group; batchSize is then per rank. */
  distributed?: DistributedConfig
  /**
   * TensorBoard event files in <out>/tensorboard (default true). Not a setting of the run: a
   * resumed run may change it.
   */
  tensorboard?: boolean
  /** Train this many members (seeds seed, seed + 1, ...) into one ensemble run folder (ensemble.ts). */
  ensemble?: number
}

/** The settings a run gets when not given (`pcam train`'s defaults are these). */
export const TRAIN_DEFAULTS = {
  ...LEARNER_DEFAULTS,
  arch: 'small',
  head: 'concat',
  pretrained: null,
  size: null,
  batchSize: 64,
  freezeEpochs: 1,
  epochs: 4,
  seed: 42,
  precision: 'auto',
  device: 'auto',
  augment: AUGMENT_PRESETS.default ?? null,
  earlyStop: 0,
  labelSmoothing: 0,
  clipGrad: 0,
  wdSkipNorm: false,
  threshold: { kind: 'fixed', value: 0.5 },
} as const satisfies Partial<TrainSettings>

/**
 * What trainConfig takes: a store and whatever differs from the defaults; `out` defaults to
 * runs/<arch>, and `lr` may be the command line's text.
 */
export type TrainSettings = Pick<TrainConfig, 'store'> &
  Partial<Omit<TrainConfig, 'lr' | 'precision' | 'precisionReason' | 'device'>> & {
    lr?: number | string
    precision?: PrecisionRequest
    device?: DeviceRequest
  }

/**
 * A full TrainConfig from the settings that differ from TRAIN_DEFAULTS, checked: a ValidationError
 * names the `pcam train` option of a setting out of range.
 */
export function trainConfig(settings: TrainSettings): TrainConfig {
  if (typeof settings.store !== 'string' || settings.store === '')
    throw new ValidationError('Missing --data <store> (make one with "pcam data prepare")')
  const given = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined))
  const { precision, device, ...c } = { ...TRAIN_DEFAULTS, ...given } as Omit<
    TrainConfig,
    'out' | 'lr' | 'precision' | 'precisionReason' | 'device'
  > &
    Pick<TrainSettings, 'out' | 'lr' | 'precision' | 'device'>
  if (!(ARCHITECTURES as readonly string[]).includes(c.arch))
    throw new ValidationError(
      `Unknown --arch "${c.arch}"; choose one of ${ARCHITECTURES.join(', ')}`,
    )
  if (c.head !== 'concat' && c.head !== 'linear')
    throw new ValidationError(`Expected concat or linear for --head but received "${c.head}"`)
  if (c.opt !== 'adamw' && c.opt !== 'sgd')
    throw new ValidationError(`Expected adamw or sgd for --opt but received "${String(c.opt)}"`)
  const lr = c.lr === 'auto' || typeof c.lr === 'number' ? c.lr : Number(c.lr)
  if (lr !== 'auto' && !(Number.isFinite(lr) && lr > 0))
    throw new ValidationError(
      `--lr takes a positive number or auto (the LR finder's suggestion); got "${String(c.lr)}"`,
    )
  if (c.size !== null) checkInteger(c.size, '--size', 8)
  if (c.sizes !== undefined) checkSizes(c)
  checkInteger(c.batchSize, '--batch-size', 2, MAX_BATCH_SIZE)
  if (c.mpp !== undefined) checkNumber(c.mpp, '--mpp', 0.01, 100)
  checkInteger(c.freezeEpochs, '--freeze-epochs', 0)
  checkInteger(c.epochs, '--epochs', 1)
  checkInteger(c.seed, '--seed', 0)
  checkNumber(c.wd, '--wd', 0)
  checkInteger(c.earlyStop, '--early-stop', 0)
  checkNumber(c.labelSmoothing, '--label-smoothing', 0, 1)
  checkNumber(c.clipGrad, '--clip-grad', 0)
  checkAveraging(c)
  if (c.ensemble !== undefined) checkInteger(c.ensemble, '--ensemble', 1)
  // One member is an ordinary run, with an ordinary run's recipe.
  if (c.ensemble === 1) delete c.ensemble
  // --swa-epochs 0 is no SWA: the recipe (compared on resume) leaves it out.
  const swaEpochs = c.swaEpochs === 0 ? undefined : c.swaEpochs
  const plan = computePlan(checkPrecision(precision), checkDeviceRequest(device))
  return {
    ...c,
    lr,
    swaEpochs,
    precision: plan.precision,
    precisionReason: plan.reason,
    device: plan.device,
    out: c.out ?? join('runs', c.arch),
  }
}

/** --sizes: two or more sizes, each with at least one epoch; not with --size. */
function checkSizes(c: Pick<TrainConfig, 'size' | 'sizes' | 'epochs'>): void {
  const sizes = c.sizes ?? []
  if (c.size !== null)
    throw new ValidationError('--size and --sizes both set the input size; choose one')
  if (sizes.length < 2)
    throw new ValidationError(
      `--sizes takes two or more sizes, e.g. 96,160 (one size is --size); got ${sizes.join(',')}`,
    )
  for (const size of sizes) checkInteger(size, '--sizes', 8)
  if (c.epochs < sizes.length)
    throw new ValidationError(
      `--sizes ${sizes.join(',')} needs at least one epoch a size; --epochs is ${c.epochs}`,
    )
}

/** --ema in (0, 1), --swa-epochs a count; one of them (both average the weights). */
function checkAveraging(c: Pick<TrainConfig, 'ema' | 'swaEpochs'>): void {
  if (c.ema !== undefined && !(typeof c.ema === 'number' && c.ema > 0 && c.ema < 1))
    throw new ValidationError(
      `Expected a decay in (0, 1) for --ema, e.g. 0.999, but received ${String(c.ema)}`,
    )
  if (c.swaEpochs !== undefined) checkInteger(c.swaEpochs, '--swa-epochs', 0)
  if (c.ema !== undefined && c.swaEpochs)
    throw new ValidationError(
      '--ema and --swa-epochs both replace the weights with an average; choose one',
    )
}

export interface DistributedConfig {
  rank: number
  worldSize: number
  masterAddr: string
  masterPort: number
  /** Batch norm across ranks: synchronised, or per rank with running statistics made equal or not. */
  bnStats?: BnStats
  timeoutMs?: number
}

export interface TrainHooks {
  onBatch?: (info: BatchInfo) => void
  onEpoch?: (record: EpochRecord) => void
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

export interface TrainResult {
  out: string
  completed: boolean
  history: EpochRecord[]
  bestAuc: number
  /** The rate used (the finder's suggestion when lr was 'auto'). */
  lr: number
  /** An ensemble's members' results so far (bestAuc above is then the ensemble's valid AUC). */
  members?: TrainResult[]
}

/** Loads backbone weights: a TF.js MobileNet folder or a torchvision / timm safetensors file. */
export function loadPretrained(model: PatchClassifier, path: string): void {
  if (!existsSync(path)) throw new DataError(`Pretrained weights not found: ${path}`)
  if (existsSync(join(path, 'model.json'))) {
    if (model.spec.arch !== 'mobilenet_v1')
      throw new ConfigError(`${path} holds a TF.js MobileNet v1; use --arch mobilenet_v1`)
    const source = mobilenetV1FromTfjs(path)
    const body = new Map([...source.stateDict()].filter(([k]) => !k.startsWith('classifier.')))
    model.body.loadStateDict(body, { strict: false })
    source.dispose()
    return
  }
  const { tensors } = readSafetensors(path)
  // torchvision / timm checkpoints name the backbone at the top level; their classifier is dropped.
  // Some omit the batch counters; every other name and shape must match.
  const body = new Map([...tensors].filter(([k]) => !/^(fc|classifier)\./.test(k)))
  const { missing, unexpected } = model.body.loadStateDict(body, { strict: false })
  for (const t of tensors.values()) t.dispose()
  const absent = missing.filter((k) => !k.endsWith('num_batches_tracked'))
  if (absent.length > 0 || unexpected.length > 0) {
    throw new DataError(
      `${path} does not fit ${model.spec.arch}: ` +
        [
          absent.length ? `missing ${absent.slice(0, 5).join(', ')}` : '',
          unexpected.length ? `unexpected ${unexpected.slice(0, 5).join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; '),
    )
  }
}

/**
 * Normalisation: what a pretrained backbone saw in training — Keras' MobileNet scales inputs to
 * [-1, 1], torchvision's networks use ImageNet's mean and std — else the store's own statistics.
 */
export function normalizationFor(config: TrainConfig, store: PatchStore): Normalization {
  if (!config.pretrained) return { mean: store.meta.mean, std: store.meta.std }
  return existsSync(join(config.pretrained, 'model.json'))
    ? KERAS_NORMALIZATION
    : IMAGENET_NORMALIZATION
}

interface Setup {
  store: PatchStore
  model: PatchClassifier
  trainLoader: PatchLoader
  validLoader: PatchLoader
  size: number
  normalization: Normalization
  close(): void
}

/**
 * The model a run of `config` starts from, channels-last: its architecture and head, initialised
 * from the torch generator's current state, with the pretrained body when `pretrained` is true.
 */
export function initialModel(
  config: TrainConfig,
  numClasses = 1,
  pretrained = true,
): PatchClassifier {
  // The one ImageNet MobileNet v1 to be had (TF.js) is 0.75 wide; from scratch it gets that width too.
  const spec: ModelSpec = {
    arch: config.arch,
    numClasses,
    head: config.head,
    alpha: config.arch === 'mobilenet_v1' ? 0.75 : undefined,
  }
  const model = createModel(spec)
  try {
    if (config.pretrained && pretrained) loadPretrained(model, config.pretrained)
  } catch (error) {
    model.dispose()
    throw error
  }
  return model.toChannelsLast()
}

/** Store, model (with pretrained weights unless resuming) and loaders for a config. */
function setUp(config: TrainConfig, resuming: boolean): Setup {
  manualSeed(config.seed)
  const store = PatchStore.open(config.store)
  // What was made before a failure (bad weights, an empty split) is released, not leaked.
  const made: { dispose(): void }[] = [store]
  try {
    const numClasses = store.meta.classes.length === 2 ? 1 : store.meta.classes.length
    if (numClasses !== 1)
      throw new DataError(
        `pcam trains binary classifiers; ${config.store} has classes ${store.meta.classes.join(', ')}.`,
      )
    const trainIndices = store.indicesOf('train')
    const validIndices = store.indicesOf('valid')
    for (const [split, indices] of [
      ['training', trainIndices],
      ['validation', validIndices],
    ] as const) {
      if (indices.length === 0)
        throw new DataError(
          `${config.store} has no labelled ${split} patches (${store.meta.count} patches, split: ${store.meta.splitMethod}). ` +
            'Training needs labelled patches: prepare a store from labelled data (class folders, Kaggle train/ with train_labels.csv, PCam train/valid).',
        )
    }
    const model = initialModel(config, numClasses, !resuming)
    made.push(model)
    if (config.device !== 'cpu') {
      model.to(config.device)
      // Every batch of a stage has one size: cuDNN's fastest algorithms are found once.
      setCudnnBenchmark(true)
    }
    const size = config.sizes?.at(-1) ?? config.size ?? store.meta.height
    const normalization = normalizationFor(config, store)
    const shard = config.distributed
      ? { rank: config.distributed.rank, worldSize: config.distributed.worldSize }
      : undefined
    const loaderOptions = {
      batchSize: config.batchSize,
      seed: config.seed,
      // Progressive resizing starts small (the LR finder and the frozen stage run there too).
      size: config.sizes?.[0] ?? size,
      normalization,
      shard,
      device: config.device,
    }
    const trainLoader = new PatchLoader(store, trainIndices, {
      ...loaderOptions,
      shuffle: true,
      dropLast: true,
      augment: config.augment,
    })
    made.push(trainLoader)
    const validLoader = new PatchLoader(store, validIndices, {
      ...loaderOptions,
      shuffle: false,
      dropLast: false,
    })
    return {
      store,
      model,
      trainLoader,
      validLoader,
      size,
      normalization,
      close: () => {
        trainLoader.dispose()
        validLoader.dispose()
        model.dispose()
        store.dispose()
      },
    }
  } catch (error) {
    for (const m of made.reverse()) m.dispose()
    throw error
  }
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
  })
  return new DataParallel(group, { bnStats: d.bnStats })
}

export async function train(config: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  if ((config.ensemble ?? 1) > 1) return trainEnsemble(config, hooks, train)
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
    } finally {
      setup.close()
    }
  } finally {
    dp?.group.destroy()
  }
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
    learn.callbacks.push(
      new ReportProgress(hooks),
      new StopOnRequest(() => Boolean(hooks.signal?.aborted || hooks.stopRequested?.()), dp),
      ...averaging,
    )
    if (config.earlyStop) learn.callbacks.push(new EarlyStopping(config.earlyStop, 'auc'))
    // Every rank computes the same figures; rank 0 alone writes them.
    if (writer) {
      learn.callbacks.push(
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
        learn.callbacks.push(
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
