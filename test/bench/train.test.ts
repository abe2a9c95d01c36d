// pcam bench train: both sides train the named network on the same store, in alternating rounds,
// and report a rate; a network the PyTorch side does not build is refused.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { benchTrain, TRAIN_BENCH_ARCHS, type TrainBenchArch } from '../../src/bench/train.js'
import { skipWithoutDataOrTorch } from '../helpers/bench-peer.js'
import { realStore } from '../helpers/shared-data.js'
import { tempDir } from '../helpers/temp-dir.js'

describe('pcam bench train', { skip: skipWithoutDataOrTorch() }, async () => {
  const root = tempDir('bench-train-test')
  const store = await realStore(root, 96)
  /** A short run on the CPU: one round, a few small batches. */
  const bench = (options: Partial<Parameters<typeof benchTrain>[0]>) =>
    benchTrain({
      store,
      batchSize: 8,
      warmup: 1,
      steps: 1,
      rounds: 1,
      precision: 'fp32',
      device: 'cpu',
      pcamOnly: false,
      ...options,
    })

  for (const arch of TRAIN_BENCH_ARCHS)
    it(`trains ${arch} in pcam and in PyTorch and reports both rates`, async () => {
      const steps: string[] = []
      const result = await bench({
        arch,
        steps: 2,
        precision: 'bf16',
        onProgress: (m) => steps.push(m),
      })
      assert.equal(result.arch, arch)
      assert.deepEqual(steps, ['round 1/1: pcam', 'round 1/1: PyTorch'])
      assert.ok(result.pcamImgPerSec > 0 && Number.isFinite(result.pcamImgPerSec))
      assert.ok(result.torchImgPerSec !== null && result.torchImgPerSec > 0)
      assert.equal(result.size, 96, "the store's size")
      // On the CPU there is no GPU to watch.
      assert.equal(result.pcamGpuUtilization, null)
    })

  it('resizes to --size on both sides', async () => {
    const result = await bench({ arch: 'resnet18', size: 64 })
    assert.equal(result.size, 64)
    assert.ok(result.pcamImgPerSec > 0 && (result.torchImgPerSec ?? 0) > 0)
  })

  it('refuses a network the PyTorch side does not build', async () => {
    await assert.rejects(
      bench({ arch: 'vgg16' as TrainBenchArch, pcamOnly: true }),
      /resnet18, resnet34, resnet50, mobilenet_v1, not "vgg16"/,
    )
  })
})
