// c10d's NCCL backend on one GPU: a one-rank group runs every collective pcam uses on CUDA
// tensors, and on CPU tensors through the GPU (DataParallel's flags and sums), with gradients
// through the differentiable all-reduce. More ranks need more GPUs than a lent machine has; the
// rules that pick backends and devices are tested in test/distributed/backends.test.ts.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DataParallel } from '../../src/learn/data-parallel.js'
import { freePort } from '../../src/learn/launcher.js'
import { Linear } from '../../src/nn/index.js'
import * as t from '../../src/torch/index.js'
import type { Tensor } from '../../src/torch/index.js'
import { deviceUnderTest } from '../helpers/device-under-test.js'

const { device, skip: noGpu } = deviceUnderTest(
  'NCCL needs a CUDA device; make test-gpu runs this on a GPU',
)
const skip =
  noGpu ||
  (!t.distributedBackends().includes('nccl') &&
    `this build has no NCCL (backends: ${t.distributedBackends().join(', ') || 'none'})`)

/** A group of this process alone, over NCCL on the GPU under test. */
async function oneRankNccl(): Promise<t.ProcessGroup> {
  return t.ProcessGroup.init({
    rank: 0,
    worldSize: 1,
    masterAddr: '127.0.0.1',
    masterPort: await freePort(),
    backend: 'nccl',
    device,
  })
}

describe('NCCL on one GPU', { skip }, () => {
  it('reduces, broadcasts and gathers CUDA tensors, and CPU tensors through the GPU', async () => {
    const group = await oneRankNccl()
    const owned: Tensor[] = []
    const keep = (x: Tensor) => (owned.push(x), x)
    try {
      assert.equal(group.backend, 'nccl')
      assert.equal(group.device, device)
      const onGpu = keep(t.tensor([1, -2, 3]).to(device))
      group.allReduce([onGpu], 'max')
      group.broadcast([onGpu], 0)
      assert.equal(onGpu.device, device)
      assert.deepEqual(keep(onGpu.to('cpu')).toArray(), [1, -2, 3])
      const onCpu = keep(t.tensor([0.5, 4], { dtype: 'float64' }))
      group.allReduce([onCpu], 'mean')
      assert.equal(onCpu.device, 'cpu')
      assert.deepEqual(onCpu.toArray(), [0.5, 4])
      const gathered = group.allGather(keep(t.tensor([[1, 2]])))
      owned.push(...gathered)
      assert.deepEqual(
        gathered.map((g) => [g.device, g.shape, g.toArray()]),
        [['cpu', [1, 2], [1, 2]]],
      )
      // The gradient of 3 * sum(x) through the all-reduce, from a CUDA leaf and a CPU leaf.
      for (const where of [device, 'cpu'] as const) {
        const x = keep(t.tensor([1, 2]).to(where).requiresGrad_())
        const y = keep(group.allReduceSumAutograd(x))
        assert.equal(y.device, where)
        keep(y.mul(3).sum()).backward()
        assert.deepEqual(keep(x.grad!.to('cpu')).toArray(), [3, 3], `gradient on ${where}`)
      }
      group.barrier()
    } finally {
      group.destroy()
      for (const x of owned) x.dispose()
    }
  })

  it("DataParallel's collectives run on a model on the GPU", async () => {
    const group = await oneRankNccl()
    t.manualSeed(5)
    const model = new Linear(3, 2)
    model.to(device)
    try {
      const dp = new DataParallel(group)
      const before = [...model.parameters()].map((p) => p.to('cpu'))
      dp.broadcastModel(model)
      const x = t.randn([4, 3]).to(device)
      const loss = model.forward(x).square().mean()
      loss.backward()
      const grads = [...model.parameters()].map((p) => p.grad!.to('cpu'))
      dp.averageGradients([...model.parameters()])
      // One rank: broadcasting and averaging leave the values as they were.
      for (const [i, p] of [...model.parameters()].entries()) {
        assert.deepEqual(p.to('cpu').toArray(), before[i]!.toArray())
        assert.deepEqual(p.grad!.to('cpu').toArray(), grads[i]!.toArray())
      }
      assert.equal(dp.anyTrue(true), true)
      assert.equal(dp.anyTrue(false), false)
      assert.deepEqual(dp.sum([1.5, 2]), [1.5, 2])
      assert.deepEqual([...dp.gather(new Float32Array([7, 8]))], [7, 8])
      for (const tensor of [...before, ...grads, x, loss]) tensor.dispose()
    } finally {
      group.destroy()
      model.dispose()
    }
  })
})
