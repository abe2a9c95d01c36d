/**
 * One rank of the distributed tests, started by test/distributed/distributed.test.ts as
 *   node rank.js <scenario> <rank> <worldSize> <port> <out>
 * "steps": trains a small network without batch norm for a few AdamW steps on its part of fixed
 * global batches, averaging gradients with DataParallel, and writes its final parameters.
 * @module
 */
import { writeFileSync } from 'node:fs'
import { DataParallel } from '../../src/learn/data-parallel.js'
import { BatchNorm2d } from '../../src/nn/index.js'
import { AdamW, manualSeed, ProcessGroup, setNumThreads } from '../../src/torch/index.js'
import { batchNormNetwork, bnOptimizer, globalBatch, stepsNetwork, trainSteps } from './steps.js'

const [scenario = '', rankText, worldText, portText, out] = process.argv.slice(2)
const rank = Number(rankText)
const worldSize = Number(worldText)
setNumThreads(1)

if (scenario === 'steps' || scenario === 'sync-bn') {
  const group = ProcessGroup.init({
    rank,
    worldSize,
    masterAddr: '127.0.0.1',
    masterPort: Number(portText),
  })
  // Each rank starts from different weights: the broadcast must make them rank 0's.
  manualSeed(100 + rank)
  const sync = scenario === 'sync-bn'
  const model = sync ? batchNormNetwork().train() : stepsNetwork()
  // Several buckets; with batch norm, statistics over the global batch.
  const dp = new DataParallel(group, { bucketBytes: 1024, bnStats: sync ? 'sync' : 'rank0' })
  dp.broadcastModel(model)
  const optimizer = sync
    ? bnOptimizer(model)
    : new AdamW([...model.parameters()], { lr: 1e-2, weightDecay: 0.01 })
  trainSteps(
    model,
    optimizer,
    (step) => {
      const { x, y } = globalBatch(step, sync ? 16 : 8)
      const per = x.size(0) / worldSize
      return {
        x: x.slice(0, rank * per, (rank + 1) * per),
        y: y.slice(0, rank * per, (rank + 1) * per),
      }
    },
    (params) => dp.averageGradients(params),
  )
  const state = [...model.parameters(), ...model.buffers()].filter((t) => t.dtype === 'float32')
  writeFileSync(out as string, JSON.stringify(state.map((t) => [...(t.data() as Float32Array)])))
  group.destroy()
} else if (scenario.startsWith('bn-')) {
  // Running statistics that differ per rank, made equal (or not) as --bn-stats asks.
  const group = ProcessGroup.init({
    rank,
    worldSize,
    masterAddr: '127.0.0.1',
    masterPort: Number(portText),
  })
  const dp = new DataParallel(group, { bnStats: scenario.slice(3) as 'rank0' | 'mean' | 'local' })
  const norm = new BatchNorm2d(2)
  norm.runningMean!.fill_(rank + 1)
  dp.syncBuffers(norm)
  writeFileSync(out as string, JSON.stringify(norm.runningMean!.toArray()))
  group.destroy()
} else if (scenario === 'gather') {
  const group = ProcessGroup.init({
    rank,
    worldSize,
    masterAddr: '127.0.0.1',
    masterPort: Number(portText),
  })
  const dp = new DataParallel(group)
  // Uneven stretches: rank r holds r + 2 values.
  const mine = Float32Array.from({ length: rank + 2 }, (_, k) => rank * 10 + k)
  writeFileSync(
    out as string,
    JSON.stringify({ gathered: [...dp.gather(mine)], any: dp.anyTrue(rank === 1) }),
  )
  group.destroy()
}
