/**
 * The settings of a training run (`pcam train`'s options): their defaults, and trainConfig, which
 * checks them and resolves the precision and device from the hardware.
 * @module
 */
import { join } from 'node:path'
import { AUGMENT_PRESETS, type AugmentOptions } from '../data/augment.js'
import { MAX_BATCH_SIZE } from '../data/loader.js'
import { ValidationError } from '../errors.js'
import { ARCHITECTURES, type Architecture, type HeadKind } from '../models/registry.js'
import { checkInteger, checkNumber } from '../torch/index.js'
import type { BackendRequest, BnStats } from '../learn/data-parallel.js'
import { LEARNER_DEFAULTS } from '../learn/learner.js'
import {
  checkDeviceRequest,
  checkPrecision,
  computePlan,
  type ComputePlan,
  type DeviceRequest,
  type Precision,
  type PrecisionRequest,
} from '../learn/precision.js'
import type { ThresholdRule } from '../metrics/metrics.js'

/** The settings of a training run, checked and complete (trainConfig makes one). */
export interface TrainConfig {
  /** Patch store folder to train on (`--data`). */
  store: string
  /** Run folder to write (`--out`; default `runs/<arch>`). */
  out: string
  /**
   * µm/px of the store's patches when its meta.json records none (class folders), so that the
   * run records it and whole-slide prediction needs no --model-mpp; the store's own wins otherwise.
   */
  mpp?: number
  /** The network's architecture (`--arch`). */
  arch: Architecture
  /** The classifier head (`--head`). */
  head: HeadKind
  /** null: from scratch; a TF.js MobileNet folder or a .safetensors file of the backbone. */
  pretrained: string | null
  /** Input size the network sees, in pixels (`--size`); null: the store's patch size. */
  size: number | null
  /**
   * Progressive resizing: the trainable epochs split between these input sizes, smallest first,
   * one one-cycle each (the frozen stage at the first); instead of size.
   */
  sizes?: number[]
  /** Patches per batch, per rank in data-parallel training (`--batch-size`). */
  batchSize: number
  /** Head-only epochs before everything trains, for a pretrained backbone (`--freeze-epochs`). */
  freezeEpochs: number
  /** The frozen stage trains the body's batch-norm layers (default true, fastai's train_bn). */
  trainBn?: boolean
  /** Epochs with everything trainable (`--epochs`). */
  epochs: number
  /** Peak learning rate, or 'auto' for the LR finder's suggestion. */
  lr: number | 'auto'
  /** Seed of initialisation, data order and augmentation (`--seed`). */
  seed: number
  /** Weight decay coefficient of the optimizer (`--wd`). */
  wd: number
  /** No weight decay on batch-norm parameters and biases. */
  wdSkipNorm?: boolean
  /** The precision it computes in, resolved from the hardware when asked for 'auto'. */
  precision: Precision
  /** Why that precision: config.json and the epoch table say it. */
  precisionReason: string
  /** Where it computes: the CPU or one GPU. */
  device: ComputePlan['device']
  /** Training augmentation (`--augment`, one of AUGMENT_PRESETS); null: none. */
  augment: AugmentOptions | null
  /** Stop a stage when the valid ROC AUC has not improved for this many epochs (0: never). */
  earlyStop?: number
  /** Label smoothing ε (`--label-smoothing`): binary targets become ε/2 and 1 - ε/2. */
  labelSmoothing?: number
  /** Largest norm of the gradient, clipped to it (`--clip-grad`); 0: no clipping. */
  clipGrad?: number
  /** The optimizer (`--opt`): AdamW, or SGD with momentum 0.9. */
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
  /** Architecture (`--arch`): the small CNN, for training from scratch. */
  arch: 'small',
  /** Head (`--head`): fastai's concat head. */
  head: 'concat',
  /** No pretrained weights (`--pretrained`): trained from scratch. */
  pretrained: null,
  /** Input size (`--size`): null, the store's patch size. */
  size: null,
  /** Patches per batch (`--batch-size`). */
  batchSize: 64,
  /** Head-only epochs first, for a pretrained backbone (`--freeze-epochs`). */
  freezeEpochs: 1,
  /** Epochs with everything trainable (`--epochs`). */
  epochs: 4,
  /** Seed of initialisation, data order and augmentation (`--seed`). */
  seed: 42,
  /** Compute precision (`--precision`): chosen from the hardware. */
  precision: 'auto',
  /** Where to compute (`--device`): the first visible GPU, else the CPU. */
  device: 'auto',
  /** Augmentation (`--augment`): the default preset (symmetries, shifts, colour, stain jitter). */
  augment: AUGMENT_PRESETS.default ?? null,
  /** Epochs without a better valid AUC before a stage stops (`--early-stop`): 0, never. */
  earlyStop: 0,
  /** Label smoothing ε (`--label-smoothing`): 0, none. */
  labelSmoothing: 0,
  /** Gradient norm clipping (`--clip-grad`): 0, none. */
  clipGrad: 0,
  /** Weight decay on batch-norm parameters and biases too (`--wd-skip-norm` not given). */
  wdSkipNorm: false,
  /** Decision threshold rule (`--threshold`): a fixed one. */
  threshold: {
    /** A fixed threshold, whatever the validation data. */
    kind: 'fixed',
    /** The threshold on the positive class's probability. */
    value: 0.5,
  },
} as const satisfies Partial<TrainSettings>

/**
 * What trainConfig takes: a store and whatever differs from the defaults; `out` defaults to
 * runs/<arch>, and `lr` may be the command line's text.
 */
export type TrainSettings = Pick<TrainConfig, 'store'> &
  Partial<Omit<TrainConfig, 'lr' | 'precision' | 'precisionReason' | 'device'>> & {
    /** Peak learning rate (`--lr`): a number, its text ("3e-3"), or "auto" (the LR finder's). */
    lr?: number | string
    /** Precision (`--precision`): fp32, bf16, fp16, or auto (default: chosen from the hardware). */
    precision?: PrecisionRequest
    /** Device (`--device`): cpu, cuda, cuda:N, or auto (default): the first GPU, else the CPU. */
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

/**
 * This process's place in a data-parallel run; `pcam train` fills it from the RANK, WORLD_SIZE,
 * MASTER_ADDR and MASTER_PORT variables its launcher sets for each rank.
 */
export interface DistributedConfig {
  /** This process's rank, 0 to worldSize - 1; rank 0 writes the run folder. */
  rank: number
  /** Number of ranks over all machines (`--nproc` x `--nnodes`). */
  worldSize: number
  /** Host of rank 0's rendezvous store (`--master-addr`, MASTER_ADDR). */
  masterAddr: string
  /** Port of rank 0's rendezvous store (`--master-port`, MASTER_PORT). */
  masterPort: number
  /** Batch norm across ranks: synchronised, or per rank with running statistics made equal or not. */
  bnStats?: BnStats
  /** How long joining the group or a collective waits for the other ranks (ms, default 60000). */
  timeoutMs?: number
  /** This rank's index on its machine (LOCAL_RANK, default 0): on GPUs, which one it takes. */
  localRank?: number
  /**
   * c10d backend (`--backend`): auto (default) is nccl for a CUDA run where this pcam has it,
   * else gloo.
   */
  backend?: BackendRequest
}
