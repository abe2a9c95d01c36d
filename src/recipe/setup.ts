/**
 * What a training run is set up with: the store, the model (with its pretrained backbone) and the
 * training and validation loaders of a TrainConfig.
 * @module
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { IMAGENET_NORMALIZATION, KERAS_NORMALIZATION, type Normalization } from '../data/augment.js'
import { PatchLoader } from '../data/loader.js'
import { PatchStore } from '../data/store.js'
import { ConfigError, DataError } from '../errors.js'
import { createModel, type ModelSpec, type PatchClassifier } from '../models/registry.js'
import { manualSeed, setCudnnBenchmark } from '../torch/index.js'
import { readSafetensors } from '../weights/safetensors.js'
import { mobilenetV1FromTfjs } from '../weights/tfjs.js'
import type { TrainConfig } from './train-config.js'

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

export interface Setup {
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
export function setUp(config: TrainConfig, resuming: boolean): Setup {
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
