// Every error a user can hit in the engine is a JavaScript error with a clear message, never a crash.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { TorchError, ValidationError, DeviceError } from '../../src/errors.js'
import * as t from '../../src/torch/index.js'
import { Conv2d } from '../../src/nn/index.js'

describe('errors', () => {
  it("a shape mismatch in libtorch becomes a TorchError with libtorch's message", () => {
    const a = t.ones([2, 3])
    assert.throws(
      () => a.matmul(t.ones([4, 5])),
      (e: unknown) =>
        e instanceof TorchError && /shapes cannot be multiplied \(2x3 and 4x5\)/.test(e.message),
    )
    assert.throws(() => t.conv2d(t.ones([1, 3, 8, 8]), t.ones([4, 2, 3, 3])), TorchError)
  })

  it('an index out of range has the TORCH_INDEX code', () => {
    assert.throws(
      () => t.ones([2, 2]).select(0, 5),
      (e: unknown) => e instanceof TorchError && e.code === 'TORCH_INDEX',
    )
  })

  it('an impossible allocation is reported as out of memory, and the process goes on', () => {
    assert.throws(
      () => t.empty([2 ** 20, 2 ** 20, 2 ** 10]),
      (e: unknown) => e instanceof TorchError && e.code === 'TORCH_OUT_OF_MEMORY',
    )
    assert.equal(t.ones([2]).sum().item(), 2)
  })

  it('using a disposed tensor says so', () => {
    const a = t.ones([2])
    a.dispose()
    assert.ok(a.isDisposed)
    assert.throws(() => a.sum(), /used after dispose\(\)/)
    a.dispose() // a second dispose is harmless
  })

  it('bad arguments name the argument, what was expected and what was received', () => {
    assert.throws(() => t.maxPool2d(t.ones([1, 1, 4, 4]), 1.5), {
      name: 'ValidationError',
      message: 'Expected positive integer for kernelSize but received 1.5 (number)',
    })
    assert.throws(() => t.zeros([2, -1]), /Expected an array of non-negative integers for shape/)
    assert.throws(() => t.ones([2]).to('float8' as never), ValidationError)
    assert.throws(() => new Conv2d(3, 4, 3, { groups: 2 }), /divisible by groups/)
    assert.throws(() => t.dropout(t.ones([2]), 1.5), /number in \[0, 1\] for p/)
  })

  it('asking for CUDA on a build or machine without it is a DeviceError with the fix', () => {
    if (t.cudaIsAvailable()) return
    assert.throws(
      () => t.ones([2], { device: 'cuda' }),
      (e: unknown) => e instanceof DeviceError && /--device cpu/.test(e.message),
    )
  })

  it('scope() refuses an async function instead of freeing tensors still in use', () => {
    assert.throws(() => t.scope(async () => t.ones([1])), /synchronous/)
  })
})
