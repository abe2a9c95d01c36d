// Out of memory while training: libtorch's error (several lines on a GPU) becomes one line that
// names the batch size to lower, and the precision where that helps; nothing else is touched.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { TorchError, ValidationError } from '../../src/errors.js'
import { outOfMemoryAdvice } from '../../src/recipe/train.js'
import { trainConfig } from '../../src/recipe/train-config.js'
import * as t from '../../src/torch/index.js'

describe('out of memory in training', () => {
  const cpu = trainConfig({ store: 's', out: 'runs/small', batchSize: 64, device: 'cpu' })

  it("turns libtorch's own out-of-memory error into one line with the batch size to lower", () => {
    // A real one, from an impossible allocation.
    let oom: unknown
    try {
      t.empty([2 ** 20, 2 ** 20, 2 ** 10])
    } catch (error) {
      oom = error
    }
    const advice = outOfMemoryAdvice(oom, cpu) as TorchError
    assert.ok(advice instanceof TorchError && advice.code === 'TORCH_OUT_OF_MEMORY')
    assert.equal(advice.message.split('\n').length, 1)
    assert.match(
      advice.message,
      /^Out of memory on the CPU at --batch-size 64: lower it \(--batch-size 32\)\./,
    )
    assert.match(advice.message, /runs\/small keeps its last checkpoint/)
    assert.equal(advice.cause, oom)
  })

  it('on a GPU in fp32, suggests half precision too', () => {
    const gpu = { ...cpu, device: 'cuda:0' as const, precision: 'fp32' as const, batchSize: 256 }
    const cuda = new TorchError(
      'CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.19 GiB total capacity)\n' +
        'If reserved memory is >> allocated memory try setting max_split_size_mb',
      'TORCH_OUT_OF_MEMORY',
    )
    const { message } = outOfMemoryAdvice(cuda, gpu) as TorchError
    assert.match(
      message,
      /on the GPU \(cuda:0\) at --batch-size 256: lower it \(--batch-size 128\)/,
    )
    assert.match(message, /--precision auto/)
    assert.equal(message.split('\n').length, 1)
  })

  it('leaves every other error as it is', () => {
    const other = new TorchError('shape mismatch', 'TORCH')
    assert.equal(outOfMemoryAdvice(other, cpu), other)
    const bad = new ValidationError('no')
    assert.equal(outOfMemoryAdvice(bad, cpu), bad)
  })
})
