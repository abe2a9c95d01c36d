/**
 * pcam train: the reference study's recipe from one command, in a worker thread, with a progress
 * bar, an epoch table, and Ctrl-C that checkpoints and exits (resume with the same --out).
 * @module
 */
import { AUGMENT_PRESETS, type AugmentOptions } from '../../data/augment.js'
import { DataError, ValidationError } from '../../errors.js'
import { checkBackendRequest, checkRankPlan } from '../../learn/data-parallel.js'
import { rankFromEnvironment } from '../../learn/launcher.js'
import { checkDeviceRequest } from '../../learn/precision.js'
import { checkInteger } from '../../torch/index.js'
import { howRankEnded, LAUNCH_OPTIONS, launchFromOptions, wantsRanks } from '../launch.js'
import { formatThresholdRule, parseThresholdRule } from '../../metrics/metrics.js'
import type { EpochRecord } from '../../run/run-folder.js'
import {
  TRAIN_DEFAULTS,
  trainConfig,
  type DistributedConfig,
  type TrainConfig,
} from '../../recipe/train-config.js'
import { type TrainResult } from '../../recipe/train.js'
import { startTraining } from '../../recipe/run-training.js'
import { RECIPE_PRESETS, withPreset } from '../../recipe/presets.js'
import { resolvePretrained } from '../../weights/registry.js'
import { ARCHITECTURES, type Architecture, type HeadKind } from '../../models/registry.js'
import type { Command, OptionValues } from '../command.js'
import { createProgress } from '../progress.js'
import { COMPUTE_OPTIONS, computeOptions } from '../shared-options.js'

/** The options of train, shared with lr-find. */
export const TRAIN_OPTIONS: Command['options'] = {
  data: { type: 'string', description: 'Patch store from "pcam data prepare" (required)' },
  recipe: {
    type: 'string',
    value: 'name',
    description: `A named preset (${Object.keys(RECIPE_PRESETS).join(', ')}; "list" describes them) that sets the options below; options given as well override its values`,
  },
  out: {
    type: 'string',
    description:
      'Run folder (default runs/<arch>); an existing run resumes when started with the same settings, and is refused otherwise',
  },
  arch: {
    type: 'string',
    default: TRAIN_DEFAULTS.arch,
    description: `Architecture: ${ARCHITECTURES.join(', ')}`,
  },
  head: {
    type: 'string',
    default: TRAIN_DEFAULTS.head,
    description: "Head: concat (fastai's) or linear",
  },
  pretrained: { type: 'string', description: 'imagenet, none, or a weights file / TF.js folder' },
  size: { type: 'number', description: "Input size (default: the store's patch size, e.g. 96)" },
  sizes: {
    type: 'string',
    description:
      "Progressive resizing instead of --size, e.g. 96,160: the trainable epochs split between the sizes, smallest first, one one-cycle each (the frozen epochs at the first size); the best epoch is chosen among the last size's, the run's input size",
  },
  'batch-size': {
    type: 'number',
    default: TRAIN_DEFAULTS.batchSize,
    description: 'Patches per batch',
  },
  'freeze-epochs': {
    type: 'number',
    default: TRAIN_DEFAULTS.freezeEpochs,
    description: 'Head-only epochs first (pretrained only)',
  },
  'train-bn': {
    type: 'string',
    value: 'true|false',
    default: 'true',
    description:
      "Whether the head-only epochs also train the body's batch-norm layers (fastai's train_bn); false freezes the whole body, so those epochs run at nearly inference speed",
  },
  epochs: {
    type: 'number',
    default: TRAIN_DEFAULTS.epochs,
    description: 'Epochs with everything trainable',
  },
  lr: {
    type: 'string',
    default: TRAIN_DEFAULTS.lr.toExponential(),
    description: 'Peak learning rate, or "auto" (LR finder)',
  },
  wd: { type: 'number', default: TRAIN_DEFAULTS.wd, description: 'Weight decay (AdamW)' },
  'wd-skip-norm': {
    type: 'boolean',
    description: 'No weight decay on batch-norm parameters and biases',
  },
  seed: {
    type: 'number',
    default: TRAIN_DEFAULTS.seed,
    description: 'Seed of initialisation, data order and augmentation',
  },
  ...COMPUTE_OPTIONS,
  mpp: {
    type: 'number',
    description:
      "µm/px of the store's patches when it records none (class folders; PCam/Kaggle: 0.972), kept in the run for whole-slide prediction",
  },
  'early-stop': {
    type: 'number',
    default: TRAIN_DEFAULTS.earlyStop,
    description: 'Stop after this many epochs without a better valid AUC (0: never)',
  },
  'label-smoothing': {
    type: 'number',
    default: TRAIN_DEFAULTS.labelSmoothing,
    description: 'Label smoothing ε (targets ε/2, 1 - ε/2)',
  },
  'clip-grad': {
    type: 'number',
    default: TRAIN_DEFAULTS.clipGrad,
    description: 'Clip the gradient norm to this (0: none)',
  },
  ema: {
    type: 'number',
    description:
      'Validate and save an exponential moving average of the weights with this decay, e.g. 0.999 (warmed up as min(decay, (1+t)/(10+t)) at step t)',
  },
  'swa-epochs': {
    type: 'number',
    description:
      "Stochastic weight averaging: this many more epochs at a tenth of the last stage's peak rates, held constant; their weights averaged, batch-norm statistics recomputed, and the average saved as the model",
  },
  opt: {
    type: 'string',
    default: TRAIN_DEFAULTS.opt,
    description: 'Optimizer: adamw or sgd (momentum 0.9)',
  },
  threshold: {
    type: 'string',
    default: formatThresholdRule(TRAIN_DEFAULTS.threshold),
    description:
      'Decision threshold the run carries, chosen on the valid split at the best epoch: a number, youden, or sensitivity:0.95',
  },
  augment: {
    type: 'string',
    default: Object.keys(AUGMENT_PRESETS).find(
      (k) => AUGMENT_PRESETS[k] === TRAIN_DEFAULTS.augment,
    ),
    description:
      'default (symmetries, shifts, colour and stain jitter), light (symmetries, shifts) or none',
  },
  json: { type: 'boolean', description: 'Print the result as JSON' },
}

function augmentPreset(value: unknown): AugmentOptions | null {
  const name = String(value)
  if (!Object.hasOwn(AUGMENT_PRESETS, name)) {
    throw new ValidationError(
      `Expected ${Object.keys(AUGMENT_PRESETS).join(', ')} for --augment but received "${String(value)}"`,
    )
  }
  return AUGMENT_PRESETS[name] as AugmentOptions | null
}

const text = (value: unknown) => (value === undefined ? undefined : String(value))
const number = (value: unknown) => (value === undefined ? undefined : Number(value))
const flag = (value: unknown) => (value === undefined ? undefined : value === true)

function trainBn(value: unknown): boolean | undefined {
  if (value === undefined || value === 'true') return undefined
  if (value === 'false') return false
  throw new ValidationError(`Expected true or false for --train-bn but received "${String(value)}"`)
}

/** What "pcam train --recipe list" prints: each preset, its settings and what it measured. */
export function presetList(): string {
  return Object.entries(RECIPE_PRESETS)
    .map(
      ([name, preset]) =>
        `${name}\n  ${preset.summary}\n  measured: ${preset.measured}\n  settings: ${JSON.stringify(preset.settings)}`,
    )
    .join('\n\n')
}

/**
 * train's options as the recipe's settings; trainConfig checks them and fills in the rest. With
 * --recipe, the preset stands in for every option not given on the command line.
 */
export async function trainConfigFrom(
  options: OptionValues,
  given: ReadonlySet<string> = new Set(Object.keys(options)),
): Promise<TrainConfig> {
  const recipe = options.recipe === undefined ? undefined : String(options.recipe)
  // A preset fills in what was not typed, so options left at their defaults do not count.
  const values = recipe
    ? Object.fromEntries(Object.entries(options).filter(([name]) => given.has(name)))
    : options
  const { pretrained: weights, ...settings } = withPreset(recipe, {
    pretrained: text(values.pretrained),
    store: values.data as string,
    out: text(values.out),
    arch: text(values.arch) as Architecture | undefined,
    head: text(values.head) as HeadKind | undefined,
    size: number(values.size),
    sizes: values.sizes === undefined ? undefined : String(values.sizes).split(',').map(Number),
    batchSize: number(values['batch-size']),
    freezeEpochs: number(values['freeze-epochs']),
    epochs: number(values.epochs),
    lr: text(values.lr),
    seed: number(values.seed),
    wd: number(values.wd),
    wdSkipNorm: flag(values['wd-skip-norm']),
    ...computeOptions(values),
    trainBn: trainBn(values['train-bn']),
    mpp: values.mpp as number | undefined,
    augment: values.augment === undefined ? undefined : augmentPreset(values.augment),
    earlyStop: number(values['early-stop']),
    labelSmoothing: number(values['label-smoothing']),
    clipGrad: number(values['clip-grad']),
    ema: number(values.ema),
    swaEpochs: number(values['swa-epochs']),
    opt: text(values.opt) as TrainConfig['opt'],
    threshold:
      values.threshold === undefined ? undefined : parseThresholdRule(String(values.threshold)),
    ensemble: number(values.ensemble),
  })
  const config = trainConfig(settings)
  // Weights are fetched once the settings are known good.
  let download: ReturnType<typeof createProgress> | undefined
  const pretrained = await resolvePretrained(weights, config.arch, {
    onProgress: ({ done, total }) => {
      download ??= createProgress('ImageNet weights (bytes)', total ?? 0)
      download.update(done, total)
    },
  })
  return { ...config, pretrained }
}

/** The epoch table's first line: where the run computes, in which precision, and why. */
export function computeLine(
  config: Pick<TrainConfig, 'device' | 'precision' | 'precisionReason'>,
): string {
  return `${config.precision} on ${config.device} (${config.precisionReason})`
}

/** The run's last line: its best valid AUC and folder, or how to resume it. */
function summary(result: TrainResult, out: string): string {
  if (!result.completed)
    return `Stopped; checkpoint saved. Resume with the same command (--out ${out}).`
  if (result.members)
    return `Done. Ensemble valid ROC AUC ${result.bestAuc.toFixed(4)} (members ${result.members.map((m) => m.bestAuc.toFixed(4)).join(', ')}); run folder: ${out}`
  return `Done. Best valid ROC AUC ${result.bestAuc.toFixed(4)}; run folder: ${out}`
}

function row(r: EpochRecord): string {
  const cells = [
    `${r.stage} ${r.epoch + 1}`.padEnd(15),
    r.trainLoss.toFixed(4).padStart(10),
    r.validLoss.toFixed(4).padStart(10),
    r.accuracy.toFixed(4).padStart(9),
    r.errorRate.toFixed(4).padStart(10),
    r.auc.toFixed(4).padStart(8),
    `${r.seconds.toFixed(0)}s`.padStart(7),
    `${r.imagesPerSec.toFixed(0)}/s`.padStart(8),
  ]
  return cells.join(' ')
}

/** Options of data-parallel training (train only; lr-find runs in one process). */
const DISTRIBUTED_OPTIONS: Command['options'] = {
  ...LAUNCH_OPTIONS,
  nproc: {
    type: 'number',
    default: 1,
    description: 'Ranks (processes) on this machine; --batch-size is per rank',
  },
  backend: {
    type: 'string',
    default: 'auto',
    description:
      'c10d backend between ranks: nccl (CUDA GPUs, one per rank: local rank i takes the i-th GPU from --device), gloo (CPU, TCP), or auto: nccl for a CUDA run where this pcam has it, else gloo',
  },
  'bn-stats': {
    type: 'string',
    default: 'rank0',
    description:
      "Batch norm across ranks: sync (statistics of the global batch, SyncBatchNorm), or per-rank batches with running statistics rank0 (DDP's way), mean, or local",
  },
}

function distributedFrom(values: OptionValues): DistributedConfig | undefined {
  const env = rankFromEnvironment()
  if (!env || env.worldSize === 1) return undefined
  const bnStats = values['bn-stats']
  if (bnStats !== 'rank0' && bnStats !== 'mean' && bnStats !== 'local' && bnStats !== 'sync')
    throw new ValidationError(
      `Expected sync, rank0, mean or local for --bn-stats but received "${String(bnStats)}"`,
    )
  return { ...env, bnStats, backend: checkBackendRequest(values.backend) }
}

/** Starts the ranks of a data-parallel run and relays what rank 0 prints. */
async function launch(values: OptionValues): Promise<void> {
  checkRankPlan(
    checkDeviceRequest(values.device ?? 'auto'),
    checkBackendRequest(values.backend),
    checkInteger(values.nproc, '--nproc', 1),
  )
  const result = await launchFromOptions(values)
  if (!result.ok)
    throw new DataError(
      `Rank ${result.failed!.rank} ${howRankEnded(result.failed!)}; the other ranks were stopped. Run the same command to resume from the last checkpoint.`,
    )
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'Train a patch classifier on a store (frozen then unfrozen for pretrained backbones).',
  description:
    'Examples:\n' +
    '  pcam train --data stores/pcam --arch small --epochs 4\n' +
    '  pcam train --data stores/pcam --arch mobilenet_v1 --pretrained imagenet --freeze-epochs 1 --epochs 3 --lr auto\n' +
    'Ctrl-C saves a checkpoint and exits; run the same command again to resume where it stopped.',
  options: {
    ...TRAIN_OPTIONS,
    ensemble: {
      type: 'number',
      description:
        'Train this many members (seeds --seed, --seed + 1, ...) into <out>/member-1, ...; eval, predict, explain, serve, slides and export average their probabilities',
    },
    'no-tensorboard': {
      type: 'boolean',
      description:
        'Write no TensorBoard event files (by default <run>/tensorboard/ gets the loss and learning rate of every batch, the validation metrics of every epoch and the top losses; view them with "tensorboard --logdir runs")',
    },
    ...DISTRIBUTED_OPTIONS,
  },
  async run(values, _positionals, given) {
    if (values.recipe === 'list') {
      console.log(presetList())
      return
    }
    const asRank = rankFromEnvironment() !== null
    if (!asRank && wantsRanks(values)) return launch(values)
    const config = {
      ...(await trainConfigFrom(values, given)),
      distributed: distributedFrom(values),
      tensorboard: values['no-tensorboard'] !== true,
    }
    // Rank 0 speaks for the group; the others only report errors.
    const quiet = (config.distributed?.rank ?? 0) !== 0
    const out = config.out
    const header = [
      'epoch'.padEnd(15),
      'train_loss',
      'valid_loss',
      ' accuracy',
      'error_rate',
      ' roc_auc',
      '   time',
      '  speed',
    ]
    let progress: ReturnType<typeof createProgress> | null = null
    let headerShown = false
    const run = startTraining(config, {
      onResume: () => {
        if (!quiet) console.log(`Resuming ${out} where it stopped.`)
      },
      onMember: (m) => {
        console.log(`Member ${m.index + 1}/${m.count} (seed ${m.seed}): ${m.out}`)
        headerShown = false
      },
      onLrFound: (found) => console.log(`LR finder suggests ${found.toExponential(2)}`),
      onBatch: (info) => {
        if (quiet) return
        progress ??= createProgress(`${info.stage} ${info.epoch + 1}/${info.epochs}`, info.batches)
        progress.update(
          info.batch,
          info.batches,
          `loss ${info.loss.toFixed(4)} ${info.imagesPerSec.toFixed(0)} img/s`,
        )
      },
      onEpoch: (record) => {
        if (quiet) return
        progress?.finish()
        progress = null
        if (!headerShown) console.log(`${computeLine(config)}\n${header.join(' ')}`)
        headerShown = true
        console.log(row(record))
      },
    })
    // A second Ctrl-C must not kill the process while the checkpoint is being written.
    let stopping = false
    const stop = () => {
      process.stderr.write(
        stopping
          ? '\nStill saving the checkpoint; pcam exits as soon as it is written.\n'
          : '\nStopping: saving a checkpoint after this batch...\n',
      )
      stopping = true
      run.stop()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    try {
      const result = await run.result
      if (!quiet) console.log(values.json === true ? JSON.stringify(result) : summary(result, out))
      // The checkpoint is on disk: leave now, with pcam's handler still on. Once the event loop
      // ends, Node gives Ctrl-C back its default action for the ~0.1 s it spends tearing down
      // libtorch, and a press then would turn this clean stop into death by signal.
      if (stopping) process.exit(0)
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
  },
}
