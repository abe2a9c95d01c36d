// Batches on the GPU: the loader copies uint8 patches to the GPU from pinned memory without
// waiting, and augmentation then runs there. The same seed must give the same batches as on the
// CPU (the random draws stay on the CPU), within float rounding of GPU kernels.
import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { DEFAULT_TRAIN_AUGMENT, prepareBatch, type AugmentOptions } from '../../src/data/augment.js'
import { PatchLoader } from '../../src/data/loader.js'
import { PatchStore } from '../../src/data/store.js'
import * as t from '../../src/torch/index.js'
import { makeSyntheticStore } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'
import { assertClose } from '../helpers/torch-reference.js'
import { deviceUnderTest } from '../helpers/device-under-test.js'

const {
  request: REQUEST,
  device,
  skip,
} = deviceUnderTest('these compare the GPU with the CPU; make test-gpu runs them on a GPU')

const root = tempDir('gpu-data')
const normalization = { mean: [0.6, 0.5, 0.7], std: [0.2, 0.25, 0.15] }
/** Every augmentation at once: symmetries, shifts, resized crops, colour and stain jitter. */
const EVERYTHING: AugmentOptions = {
  ...DEFAULT_TRAIN_AUGMENT,
  zoom: { scale: [0.6, 1], ratio: [0.75, 1.33] },
}

/**
 * Colour and stain jitter are grouped 1x1 convolutions, which cuDNN may run in TF32 (inputs
 * rounded to ~5e-4), scaled up by the normalisation's 1/std. Other draws or another order of
 * operations would be off by whole units.
 */
const AUGMENTED_ATOL = 1e-2

describe(`batches on ${REQUEST}`, { skip }, () => {
  let store: PatchStore
  before(async () => {
    if (!skip) store = PatchStore.open(await makeSyntheticStore(root, { train: 48, valid: 16 }))
  })

  it('pinned memory copies to the GPU without waiting, with the same values', () => {
    const x = t.randint(0, 255, [4, 16, 16, 3], { dtype: 'uint8' })
    const pinned = x.pinMemory()
    assert.equal(pinned.isPinned, true)
    assert.equal(x.isPinned, false)
    const moved = pinned.to(device, { nonBlocking: true })
    pinned.dispose()
    assert.equal(moved.device, device)
    assert.deepEqual(moved.to('cpu').toArray(), x.toArray())
    for (const v of [x, moved]) v.dispose()
  })

  it('prepareBatch on the GPU equals prepareBatch on the CPU for the same seed', () => {
    const images = t.randint(0, 255, [8, 16, 16, 3], { dtype: 'uint8' })
    for (const augment of [null, EVERYTHING]) {
      const options = { size: 24, normalization, augment }
      const onCpu = prepareBatch(images, { ...options, generator: new t.Generator(9) })
      const onGpu = prepareBatch(images.to(device), { ...options, generator: new t.Generator(9) })
      assert.equal(onGpu.device, device)
      assertClose(onGpu.to('cpu'), onCpu, {
        what: augment ? 'augmented batch' : 'plain batch',
        atol: augment ? AUGMENTED_ATOL : 1e-4,
      })
      for (const v of [onCpu, onGpu]) v.dispose()
    }
    images.dispose()
  })

  it("a loader for the GPU yields the CPU loader's batches, on the GPU", async () => {
    const indices = store.indicesOf('train')
    const options = {
      batchSize: 16,
      shuffle: true,
      dropLast: true,
      seed: 4,
      size: 16,
      normalization,
      augment: EVERYTHING,
    }
    const cpu = [...new PatchLoader(store, indices, options).epoch(0)]
    const gpu = [...new PatchLoader(store, indices, { ...options, device }).epoch(0)]
    assert.equal(gpu.length, cpu.length)
    gpu.forEach((batch, i) => {
      assert.equal(batch.x.device, device)
      assert.equal(batch.y.device, device)
      assertClose(batch.x.to('cpu'), cpu[i]!.x, {
        what: `batch ${i} images`,
        atol: AUGMENTED_ATOL,
      })
      assert.deepEqual(batch.y.to('cpu').toArray(), cpu[i]!.y.toArray())
    })
    for (const b of [...cpu, ...gpu]) for (const v of [b.x, b.y, b.indices]) v.dispose()
  })
})
