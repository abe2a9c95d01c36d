/**
 * `pcam bench engine`: trains and runs the reference network in pcam and in PyTorch (Python) with
 * the same batch, size, thread count and memory format, alternating rounds, and reports images/s,
 * the ratios, and optionally whether resident memory stays flat over a long training run.
 * @module
 */
import { join } from 'node:path'
import {
  Adam,
  bceWithLogits,
  getNumThreads,
  mallocEnvironment,
  manualSeed,
  memoryStats,
  noGrad,
  randint,
  randn,
  scope,
} from '../torch/index.js'
import { PACKAGE_ROOT } from '../paths.js'
import { runPythonJson } from './python.js'
import { alternate, median } from './rounds.js'
import { referenceNet } from './reference-net.js'

const PEER_SCRIPT = join(PACKAGE_ROOT, 'bench', 'engine_torch.py')

export interface EngineBenchOptions {
  batchSize: number
  size: number
  warmup: number
  steps: number
  rounds: number
  /** Also train this many steps and compare resident memory at step 100 and at the end (0: skip). */
  memorySteps: number
  /** Skip the PyTorch side (no Python needed). */
  pcamOnly: boolean
  /** Run PyTorch with the glibc allocator settings pcam uses (pcam's own gain is then excluded). */
  torchMallocTuned: boolean
  onProgress?: (message: string) => void
}

export interface Throughput {
  trainImgPerSec: number
  inferImgPerSec: number
}

export interface EngineBenchResult {
  threads: number
  batchSize: number
  size: number
  pcam: Throughput
  torch: (Throughput & { torchVersion: string }) | null
  memory: {
    rssAtStep100: number
    rssAtEnd: number
    steps: number
    growthPct: number
    liveTensors: number
  } | null
}

function pcamRound(options: EngineBenchOptions): Throughput {
  manualSeed(0)
  const net = referenceNet().toChannelsLast()
  const x = randn([options.batchSize, 3, options.size, options.size]).contiguous('channelsLast')
  const y = randint(0, 2, [options.batchSize, 1]).float()
  const optimizer = new Adam([...net.parameters()], { lr: 1e-3 })
  const trainStep = () =>
    scope(() => {
      optimizer.zeroGrad()
      bceWithLogits(net.forward(x), y).backward()
      optimizer.step()
    })
  const timed = (fn: () => void) => {
    for (let i = 0; i < options.warmup; i++) fn()
    const start = performance.now()
    for (let i = 0; i < options.steps; i++) fn()
    return (options.batchSize * options.steps) / ((performance.now() - start) / 1000)
  }
  net.train()
  const trainImgPerSec = timed(trainStep)
  net.eval()
  const inferImgPerSec = timed(() => noGrad(() => net.forward(x).dispose()))
  optimizer.dispose()
  net.dispose()
  x.dispose()
  y.dispose()
  return { trainImgPerSec, inferImgPerSec }
}

function memoryRun(options: EngineBenchOptions): NonNullable<EngineBenchResult['memory']> {
  const net = referenceNet().toChannelsLast()
  const x = randn([options.batchSize, 3, options.size, options.size]).contiguous('channelsLast')
  const y = randint(0, 2, [options.batchSize, 1]).float()
  const optimizer = new Adam([...net.parameters()], { lr: 1e-3 })
  let rssAtStep100 = 0
  for (let step = 1; step <= options.memorySteps; step++) {
    scope(() => {
      optimizer.zeroGrad()
      bceWithLogits(net.forward(x), y).backward()
      optimizer.step()
    })
    if (step === Math.min(100, options.memorySteps)) rssAtStep100 = memoryStats().rss
    if (step % 100 === 0)
      options.onProgress?.(
        `memory run: step ${step}/${options.memorySteps}, rss ${(memoryStats().rss / 2 ** 20).toFixed(0)} MiB`,
      )
  }
  const rssAtEnd = memoryStats().rss
  const liveTensors = memoryStats().liveTensors
  optimizer.dispose()
  net.dispose()
  x.dispose()
  y.dispose()
  return {
    rssAtStep100,
    rssAtEnd,
    steps: options.memorySteps,
    growthPct: (100 * (rssAtEnd - rssAtStep100)) / rssAtStep100,
    liveTensors,
  }
}

export async function benchEngine(options: EngineBenchOptions): Promise<EngineBenchResult> {
  const threads = getNumThreads()
  const request = {
    threads,
    batchSize: options.batchSize,
    size: options.size,
    warmup: options.warmup,
    steps: options.steps,
  }
  const env = options.torchMallocTuned ? mallocEnvironment() : {}
  const { pcam: pcamRounds, peer: torchRounds } = await alternate({
    rounds: options.rounds,
    pcam: () => pcamRound(options),
    peer: options.pcamOnly
      ? null
      : () => runPythonJson(PEER_SCRIPT, request, env) as Throughput & { torchVersion: string },
    onProgress: options.onProgress,
  })
  const summarise = (rounds: Throughput[]): Throughput => ({
    trainImgPerSec: median(rounds.map((r) => r.trainImgPerSec)),
    inferImgPerSec: median(rounds.map((r) => r.inferImgPerSec)),
  })
  return {
    threads,
    batchSize: options.batchSize,
    size: options.size,
    pcam: summarise(pcamRounds),
    torch: torchRounds.length
      ? { ...summarise(torchRounds), torchVersion: torchRounds[0]!.torchVersion }
      : null,
    memory: options.memorySteps > 0 ? memoryRun(options) : null,
  }
}
