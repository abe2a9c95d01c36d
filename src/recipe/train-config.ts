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
import type { BnStats } from '../learn/data-parallel.js'
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
