/**
 * `pcam bench distributed`: data-parallel training speed of the reference network with 1 and 2
 * ranks on this machine (one libtorch thread each, as the launcher starts them), and the time
 * each step spends in the gradient all-reduce, so the scaling overhead is measured, not guessed.
 * Each rank is a `pcam bench distributed` process started by the launcher; it prints one JSON line.
 * @module
 */
import { DataParallel } from '../learn/data-parallel.js'
import { launchRanks, rankFromEnvironment } from '../learn/launcher.js'
import {
  computePlan,
  underAutocast,
  type Precision,
  type PrecisionRequest,
} from '../learn/precision.js'
import {
  Adam,
  bceWithLogits,
  manualSeed,
  ProcessGroup,
  randint,
  randn,
  scope,
} from '../torch/index.js'
import { referenceNet } from './reference-net.js'

export interface RankMeasurement {
  rank: number
  worldSize: number
  steps: number
  batchSize: number
  seconds: number
  allReduceSeconds: number
}

export interface DistributedLevel {
  ranks: number
  /** Images per second over all ranks. */
  imagesPerSec: number
  stepMs: number
  allReduceMsPerStep: number
  /** imagesPerSec / (ranks x the 1-rank imagesPerSec). */
  efficiency: number
  /** The precision the ranks trained in. */
  precision: Precision
}

export interface DistributedBenchOptions {
  ranks: number[]
  batchSize: number
  size: number
  warmup: number
  steps: number
  /** The precision every rank trains in, resolved for the CPU (Gloo ranks compute there). */
  precision: PrecisionRequest
}

/** The work of one rank: warm up, then time `steps` data-parallel steps. */
export function measureRank(options: Omit<DistributedBenchOptions, 'ranks'>): RankMeasurement {
  const plan = computePlan(options.precision, 'cpu')
  const env = rankFromEnvironment() ?? {
    rank: 0,
    worldSize: 1,
    masterAddr: '127.0.0.1',
    masterPort: 0,
  }
  const group = env.worldSize > 1 ? ProcessGroup.init(env) : null
  const dp = group ? new DataParallel(group) : null
  manualSeed(env.rank)
  const model = referenceNet().toChannelsLast().train()
  dp?.broadcastModel(model)
  const optimizer = new Adam([...model.parameters()], { lr: 1e-3 })
  const x = randn([options.batchSize, 3, options.size, options.size]).contiguous('channelsLast')
  const y = randint(0, 2, [options.batchSize]).float()
  const forward = () => underAutocast(plan, () => model.forward(x))
  const step = () =>
    scope(() => {
      optimizer.zeroGrad()
      bceWithLogits(forward().float().reshape(-1), y).backward()
      dp?.averageGradients([...model.parameters()])
      optimizer.step()
    })
  for (let i = 0; i < options.warmup; i++) step()
  if (dp) dp.allReduceSeconds = 0
  group?.barrier()
  const started = performance.now()
  for (let i = 0; i < options.steps; i++) step()
  const seconds = (performance.now() - started) / 1000
  const result = {
    rank: env.rank,
    worldSize: env.worldSize,
    steps: options.steps,
    batchSize: options.batchSize,
    seconds,
    allReduceSeconds: dp?.allReduceSeconds ?? 0,
  }
  group?.destroy()
  return result
}

/** Launches each level's ranks and combines what they measured. */
export async function benchDistributed(
  options: DistributedBenchOptions,
  onLevel?: (level: DistributedLevel) => void,
): Promise<DistributedLevel[]> {
  const { precision } = computePlan(options.precision, 'cpu')
  const levels: DistributedLevel[] = []
  for (const ranks of options.ranks) {
    const measured: RankMeasurement[] = []
    const errors: string[] = []
    const result = await launchRanks({
      nproc: ranks,
      threadsPerRank: 1,
      args: [
        'bench',
        'distributed',
        '--batch-size',
        String(options.batchSize),
        '--size',
        String(options.size),
        '--warmup',
        String(options.warmup),
        '--steps',
        String(options.steps),
        '--precision',
        precision,
      ],
      onLine: (_rank, line, stream) => {
        if (stream === 'stdout' && line.startsWith('{'))
          measured.push(JSON.parse(line) as RankMeasurement)
        else if (stream === 'stderr') errors.push(line)
      },
    })
    if (!result.ok || measured.length !== ranks)
      throw new Error(`The ${ranks}-rank benchmark failed: ${errors.join('\n')}`)
    // The slowest rank sets the pace of a synchronous step.
    const seconds = Math.max(...measured.map((m) => m.seconds))
    const images = measured.reduce((n, m) => n + m.steps * m.batchSize, 0)
    const imagesPerSec = images / seconds
    const level: DistributedLevel = {
      ranks,
      imagesPerSec,
      stepMs: (seconds / options.steps) * 1000,
      allReduceMsPerStep:
        (Math.max(...measured.map((m) => m.allReduceSeconds)) / options.steps) * 1000,
      efficiency: levels[0]
        ? imagesPerSec / (ranks * (levels[0].imagesPerSec / levels[0].ranks))
        : 1,
      precision,
    }
    levels.push(level)
    onLevel?.(level)
  }
  return levels
}
