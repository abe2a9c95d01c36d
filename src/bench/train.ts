/**
 * `pcam bench train`: training speed of one architecture (a ResNet or the fast recipe's MobileNet
 * v1) on a real patch store at a chosen input size, data loading and augmentation included, next
 * to the same network in PyTorch (Python) gathering the same store's patches
 * (bench/train_torch.py); alternating rounds, medians. On a GPU, also how busy the GPU was while
 * each side trained (nvidia-smi's samples inside the timed steps).
 * @module
 */
import { join } from 'node:path'
import { ValidationError } from '../errors.js'
import { PatchLoader } from '../data/loader.js'
import { PatchStore } from '../data/store.js'
import { precisionCallbacks } from '../learn/callbacks/mixed-precision.js'
import {
  computePlan,
  type ComputePlan,
  type ComputeRequest,
  type Precision,
} from '../learn/precision.js'
import { Learner } from '../learn/learner.js'
import { createModel } from '../models/registry.js'
import {
  cudaIndex,
  getNumThreads,
  mallocEnvironment,
  manualSeed,
  setCudnnBenchmark,
} from '../torch/index.js'
import { PACKAGE_ROOT } from '../paths.js'
import { runPythonJson } from './python.js'
import { meanUtilization, UtilizationSampler } from './gpu-utilization.js'
import { alternate, median } from './rounds.js'

const PEER_SCRIPT = join(PACKAGE_ROOT, 'bench', 'train_torch.py')

/** The architectures both sides build the same way. */
export const TRAIN_BENCH_ARCHS = ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v1'] as const
export type TrainBenchArch = (typeof TRAIN_BENCH_ARCHS)[number]
/** MobileNet v1's width in the fast recipe (the shared ImageNet weights are the 0.75 network). */
const MOBILENET_ALPHA = 0.75
const alphaOf = (arch: TrainBenchArch) => (arch === 'mobilenet_v1' ? MOBILENET_ALPHA : undefined)

export interface TrainBenchOptions extends ComputeRequest {
  store: string
  arch?: TrainBenchArch
  /** Input size the patches are resized to (default: the store's; the reference study's is 224). */
  size?: number
  batchSize: number
  warmup: number
  steps: number
  rounds: number
  pcamOnly: boolean
  onProgress?: (message: string) => void
}

export interface TrainBenchResult {
  arch: TrainBenchArch
  threads: number
  batchSize: number
  precision: Precision
  device: ComputePlan['device']
  /** The input size trained at. */
  size: number
  pcamImgPerSec: number
  torchImgPerSec: number | null
  /** Mean GPU utilisation (percent) during pcam's timed steps; null on the CPU or without nvidia-smi. */
  pcamGpuUtilization: number | null
  /** The same during PyTorch's timed steps. */
  torchGpuUtilization: number | null
}

/** A round's rate, and when its timed steps ran (ms since the epoch). */
interface Round {
  imagesPerSec: number
  window: [number, number]
}

// Steps of pcam's own training loop (Learner, loader with flips) at a constant rate.
async function pcamRound(options: TrainBenchOptions, plan: ComputePlan): Promise<Round> {
  manualSeed(0)
  const store = PatchStore.open(options.store)
  const indices = store
    .indicesOf('train')
    .slice(0, options.batchSize * (options.warmup + options.steps))
  const normalization = { mean: store.meta.mean, std: store.meta.std }
  const loader = (list: number[], train = true) =>
    new PatchLoader(store, list, {
      batchSize: options.batchSize,
      shuffle: true,
      dropLast: train,
      seed: 0,
      normalization,
      size: options.size,
      augment: { dihedral: true },
      device: plan.device,
    })
  // A small validation sample spread over the split (store order groups the classes).
  const validSample = store.indicesOf('valid').filter((_, i) => i % 50 === 0)
  const model = createModel({
    arch: options.arch ?? 'resnet18',
    alpha: alphaOf(options.arch ?? 'resnet18'),
    numClasses: 1,
    head: 'linear',
  }).toChannelsLast()
  if (plan.device !== 'cpu') {
    model.to(plan.device)
    // As pcam train does, and as the PyTorch side sets torch.backends.cudnn.benchmark.
    setCudnnBenchmark(true)
  }
  const warm = new Learner(
    model,
    loader(indices.slice(0, options.batchSize * options.warmup)),
    loader(validSample, false),
    { callbacks: precisionCallbacks(plan) },
  )
  await warm.fit(1)
  const window: [number, number] = [0, 0]
  const timed = new Learner(
    model,
    loader(indices.slice(options.batchSize * options.warmup)),
    loader(validSample, false),
    {
      callbacks: [
        ...precisionCallbacks(plan),
        {
          beforeTrain: () => void (window[0] = Date.now()),
          afterTrain: () => void (window[1] = Date.now()),
        },
      ],
    },
  )
  await timed.fit(1)
  // The epoch's own rate: every training batch, loading included; the validation after it is not.
  const imagesPerSec = timed.history[0]?.imagesPerSec ?? 0
  warm.dispose()
  timed.dispose()
  model.dispose()
  store.dispose()
  return { imagesPerSec, window }
}

export async function benchTrain(options: TrainBenchOptions): Promise<TrainBenchResult> {
  const arch = options.arch ?? 'resnet18'
  if (!TRAIN_BENCH_ARCHS.includes(arch))
    throw new ValidationError(
      `pcam bench train runs ${TRAIN_BENCH_ARCHS.join(', ')}, not "${String(arch)}"`,
    )
  const threads = getNumThreads()
  const plan = computePlan(options.precision, options.device)
  const store = PatchStore.open(options.store)
  const size = options.size ?? store.meta.height
  store.dispose()
  const request = {
    arch,
    alpha: alphaOf(arch) ?? 1,
    threads,
    store: options.store,
    size,
    batchSize: options.batchSize,
    warmup: options.warmup,
    steps: options.steps,
    precision: plan.precision,
    device: plan.device,
  }
  const sampler =
    plan.device === 'cpu' ? null : await UtilizationSampler.start(cudaIndex(plan.device))
  // nvidia-smi must stop however the rounds end, or it keeps the process alive.
  let rounds: { pcam: Round[]; peer: Round[] }
  try {
    rounds = await alternate({
      rounds: options.rounds,
      pcam: () => pcamRound({ ...options, size }, plan),
      peer: options.pcamOnly
        ? null
        : (): Round => {
            // PyTorch at its best: the glibc allocator settings pcam sets for itself.
            const reply = runPythonJson(PEER_SCRIPT, request, mallocEnvironment()) as {
              trainImgPerSec: number
              window: [number, number]
            }
            return { imagesPerSec: reply.trainImgPerSec, window: reply.window }
          },
      onProgress: options.onProgress,
    })
  } finally {
    await sampler?.stop()
  }
  const { pcam, peer } = rounds
  const utilization = (rounds: Round[]) =>
    sampler && rounds.length
      ? meanUtilization(
          sampler.samples,
          rounds.map((r) => r.window),
        )
      : null
  return {
    arch,
    threads,
    batchSize: options.batchSize,
    precision: plan.precision,
    device: plan.device,
    size,
    pcamImgPerSec: median(pcam.map((r) => r.imagesPerSec)),
    torchImgPerSec: peer.length ? median(peer.map((r) => r.imagesPerSec)) : null,
    pcamGpuUtilization: utilization(pcam),
    torchGpuUtilization: utilization(peer),
  }
}
