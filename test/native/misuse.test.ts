// The addon checks what JavaScript hands it instead of trusting src/torch: a handle of the wrong
// kind, a buffer shorter than its shape, optimizer state arrays shorter than the parameters are
// each a thrown error (before these checks: a cast to the wrong C++ type, reads past the end).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { native } from '../../src/torch/native.js'

// The handle types are opaque to TypeScript; these tests pass the wrong ones on purpose.
const any = native as unknown as Record<string, (...args: unknown[]) => unknown>

describe('the native layer refuses misuse', () => {
  it('a handle of another kind, or a value that is no handle, is an error naming the kind', () => {
    const tensor = native.fromBuffer(new Float32Array([1, 2]), 'float32', [2], 'float32', 'cpu')
    const generator = native.generator(1)
    assert.throws(() => any.shape!(generator), /expected a tensor handle/)
    assert.throws(() => any.shape!({}), /expected a tensor handle/)
    assert.throws(() => any.slideAssociated!(tensor), /expected a slide handle/)
    assert.throws(() => any.distDestroy!(tensor), /expected a process group handle/)
    assert.throws(() => any.rand!([2], 'float32', 'cpu', tensor), /expected a generator handle/)
    // The right kinds still work.
    assert.deepEqual(native.shape(tensor), [2])
    native.dispose(tensor)
  })

  it('fromBuffer refuses a shape that does not cover exactly the array', () => {
    const data = new Float32Array(4)
    for (const shape of [[3, 3], [2], [2 ** 31, 2 ** 31, 2 ** 31], [-1, -4]]) {
      assert.throws(
        () => native.fromBuffer(data, 'float32', shape, 'float32', 'cpu'),
        /fromBuffer: (the shape needs|negative size)/,
        JSON.stringify(shape),
      )
    }
    assert.throws(
      () => any.fromBuffer!(new DataView(new ArrayBuffer(8)), 'float32', [2], 'float32', 'cpu'),
      /expected a typed array/,
    )
  })

  it('optimizer steps refuse state arrays that do not match the parameters', () => {
    const p = () => {
      const h = native.fromBuffer(new Float32Array([1, 2]), 'float32', [2], 'float32', 'cpu')
      return h
    }
    const params = [p(), p()]
    assert.throws(
      () => native.adamStep(params, [p()], [p(), p()], [1, 1], 0.1, 0.9, 0.999, 1e-8, 0, false),
      /adamStep: 2 parameters but 1, 2 and 2 state entries/,
    )
    assert.throws(
      () => native.adamStep(params, [p(), p()], [p(), p()], [1], 0.1, 0.9, 0.999, 1e-8, 0, false),
      /adamStep: 2 parameters but 2, 2 and 1 state entries/,
    )
    assert.throws(
      () => native.sgdStep(params, [p()], false, 0.1, 0.9, 0, 0, false),
      /sgdStep: 2 parameters but 1 momentum buffers/,
    )
  })
})
