/**
 * `pcam bench engine`: trains and runs the reference network in pcam and in PyTorch (Python) with
 * the same batch, size, thread count, memory format, precision and device, alternating rounds,
 * and reports images/s, the ratios, and optionally whether resident memory stays flat over a long
 * training run. Mixed precision is autocast alone on both sides (loss scaling belongs to the
 * training loop, measured by bench train).
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
  type Tensor,
} from '../torch/index.js'
import {
  computePlan,
  underAutocast,
  type ComputePlan,
  type ComputeRequest,
} from '../learn/precision.js'
import type { Module } from '../nn/index.js'
import { PACKAGE_ROOT } from '../paths.js'
import { runPythonJson } from './python.js'
import { alternate, median } from './rounds.js'
import { referenceNet } from './reference-net.js'

const PEER_SCRIPT = join(PACKAGE_ROOT, 'bench', 'engine_torch.py')

export interface EngineBenchOptions extends ComputeRequest {
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
  /** The precision and device both sides ran in (resolved from the request). */
  precision: ComputePlan['precision']
  device: ComputePlan['device']
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

/** The reference network, its batch and optimizer on the plan's device, and its forward pass. */
function setUp(options: EngineBenchOptions, plan: ComputePlan) {
  const net = referenceNet().toChannelsLast()
  if (plan.device !== 'cpu') net.to(plan.device)
  const onDevice = (t: Tensor) => {
    if (plan.device === 'cpu') return t
    const moved = t.to(plan.device)
    t.dispose()
    return moved
  }
  const drawn = onDevice(randn([options.batchSize, 3, options.size, options.size]))
  const x = drawn.contiguous('channelsLast')
  if (x !== drawn) drawn.dispose()
  const y = onDevice(randint(0, 2, [options.batchSize, 1]).float())
  const optimizer = new Adam([...net.parameters()], { lr: 1e-3 })
  const forward = (input: Tensor) => underAutocast(plan, () => net.forward(input))
  const trainStep = () =>
    scope(() => {
      optimizer.zeroGrad()
      bceWithLogits(forward(x).float(), y).backward()
      optimizer.step()
    })
  const dispose = () => {
    optimizer.dispose()
    net.dispose()
    x.dispose()
    y.dispose()
  }
  return { net, x, forward, trainStep, dispose }
}

/** Waits for the device's queued work (a GPU runs asynchronously): reading a value does. */
function settle(net: Module): void {
  scope(() => [...net.parameters()][0]?.sum().item())
}

function pcamRound(options: EngineBenchOptions, plan: ComputePlan): Throughput {
  manualSeed(0)
  const { net, x, forward, trainStep, dispose } = setUp(options, plan)
  const timed = (fn: () => void) => {
    for (let i = 0; i < options.warmup; i++) fn()
    settle(net)
    const start = performance.now()
    for (let i = 0; i < options.steps; i++) fn()
    settle(net)
    return (options.batchSize * options.steps) / ((performance.now() - start) / 1000)
  }
  net.train()
  const trainImgPerSec = timed(trainStep)
  net.eval()
  // In a scope, as the training step: every intermediate goes back to the block cache at once.
  const inferImgPerSec = timed(() => noGrad(() => scope(() => void forward(x))))
  dispose()
  return { trainImgPerSec, inferImgPerSec }
}

function memoryRun(
  options: EngineBenchOptions,
  plan: ComputePlan,
): NonNullable<EngineBenchResult['memory']> {
  const { trainStep, dispose } = setUp(options, plan)
  let rssAtStep100 = 0
  for (let step = 1; step <= options.memorySteps; step++) {
    trainStep()
    if (step === Math.min(100, options.memorySteps)) rssAtStep100 = memoryStats().rss
    if (step % 100 === 0)
      options.onProgress?.(
        `memory run: step ${step}/${options.memorySteps}, rss ${(memoryStats().rss / 2 ** 20).toFixed(0)} MiB`,
      )
  }
  const rssAtEnd = memoryStats().rss
  const liveTensors = memoryStats().liveTensors
  dispose()
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
  const plan = computePlan(options.precision, options.device)
  const request = {
    threads,
    batchSize: options.batchSize,
    size: options.size,
    warmup: options.warmup,
    steps: options.steps,
    precision: plan.precision,
    device: plan.device,
  }
  const env = options.torchMallocTuned ? mallocEnvironment() : {}
  const { pcam: pcamRounds, peer: torchRounds } = await alternate({
    rounds: options.rounds,
    pcam: () => pcamRound(options, plan),
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
    precision: plan.precision,
    device: plan.device,
    batchSize: options.batchSize,
    size: options.size,
    pcam: summarise(pcamRounds),
    torch: torchRounds.length
      ? { ...summarise(torchRounds), torchVersion: torchRounds[0]!.torchVersion }
      : null,
    memory: options.memorySteps > 0 ? memoryRun(options, plan) : null,
  }
}
