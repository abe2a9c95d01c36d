// Tensor basics with hand-computed values: creation, dtypes, views, data transfer, in-place ops.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as t from '../../src/torch/index.js'

describe('creation', () => {
  it('tensor() from nested arrays is float32 with the nested shape', () => {
    const x = t.tensor([
      [1, 2, 3],
      [4, 5, 6],
    ])
    assert.equal(x.dtype, 'float32')
    assert.deepEqual(x.shape, [2, 3])
    assert.deepEqual(x.toArray(), [1, 2, 3, 4, 5, 6])
  })

  it('tensor() keeps the dtype of a typed array and checks the shape against its length', () => {
    const x = t.tensor(new Uint8Array([0, 128, 255, 7, 8, 9]), { shape: [2, 3] })
    assert.equal(x.dtype, 'uint8')
    assert.deepEqual(x.shape, [2, 3])
    assert.throws(
      () => t.tensor(new Uint8Array(5), { shape: [2, 3] }),
      /holds 6 elements but the array has 5/,
    )
  })

  it('round-trips every dtype through data()', () => {
    const values = [0, 1, -2, 3.5]
    for (const dtype of ['float32', 'float64', 'float16', 'bfloat16'] as const) {
      assert.deepEqual(t.tensor(values, { dtype }).toArray(), values, dtype)
    }
    assert.deepEqual(t.tensor([0, 1, 2, 250], { dtype: 'uint8' }).toArray(), [0, 1, 2, 250])
    const big = t.tensor([2 ** 40, -3], { dtype: 'int64' }).data()
    assert.ok(big instanceof BigInt64Array)
    assert.deepEqual([...big], [2n ** 40n, -3n])
    assert.deepEqual(t.tensor([1, 0, 2], { dtype: 'bool' }).toArray(), [1, 0, 1])
  })

  it('zeros, ones, full, arange and their defaults', () => {
    assert.deepEqual(t.zeros([2, 2]).toArray(), [0, 0, 0, 0])
    assert.deepEqual(t.ones([3], { dtype: 'int32' }).toArray(), [1, 1, 1])
    assert.deepEqual(t.full([2], 2.5).toArray(), [2.5, 2.5])
    assert.equal(t.arange(5).dtype, 'int64')
    assert.deepEqual(t.arange(5).toArray(), [0, 1, 2, 3, 4])
    assert.deepEqual(t.arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75])
  })

  it('manualSeed makes rand, randn and randperm reproducible', () => {
    t.manualSeed(3)
    const a = [t.rand([4]).toArray(), t.randn([4]).toArray(), t.randperm(10).toArray()]
    t.manualSeed(3)
    const b = [t.rand([4]).toArray(), t.randn([4]).toArray(), t.randperm(10).toArray()]
    assert.deepEqual(a, b)
    assert.deepEqual(
      [...(b[2] as number[])].sort((x, y) => x - y),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    )
    const u = t.rand([10000])
    assert.ok(u.min().item() >= 0 && u.max().item() < 1)
    assert.ok(Math.abs(u.mean().item() - 0.5) < 0.02)
  })
})

describe('views and indexing', () => {
  const x = () => t.arange(24).reshape(2, 3, 4)

  it('reshape, permute, transpose, flatten, squeeze, unsqueeze', () => {
    assert.deepEqual(x().permute(2, 0, 1).shape, [4, 2, 3])
    assert.deepEqual(x().permute(2, 0, 1).contiguous().toArray().slice(0, 6), [0, 4, 8, 12, 16, 20])
    assert.deepEqual(x().transpose(0, 2).shape, [4, 3, 2])
    assert.deepEqual(x().flatten(1).shape, [2, 12])
    assert.deepEqual(x().unsqueeze(0).squeeze(0).shape, [2, 3, 4])
    assert.deepEqual(x().reshape(-1, 6).shape, [4, 6])
  })

  it('slice, select, indexSelect, flip and rot90 pick the right elements', () => {
    assert.deepEqual(x().select(0, 1).select(0, 2).toArray(), [20, 21, 22, 23])
    assert.deepEqual(x().slice(2, 1, 4, 2).select(0, 0).toArray(), [1, 3, 5, 7, 9, 11])
    const rows = t
      .arange(12)
      .reshape(4, 3)
      .indexSelect(0, t.tensor([3, 0], { dtype: 'int64' }))
    assert.deepEqual(rows.toArray(), [9, 10, 11, 0, 1, 2])
    assert.deepEqual(
      t
        .tensor([
          [1, 2],
          [3, 4],
        ])
        .flip(1)
        .toArray(),
      [2, 1, 4, 3],
    )
    // One quarter turn counter-clockwise: [[1,2],[3,4]] -> [[2,4],[1,3]]
    assert.deepEqual(
      t
        .tensor([
          [1, 2],
          [3, 4],
        ])
        .rot90(1, [0, 1])
        .toArray(),
      [2, 4, 1, 3],
    )
  })

  it('cat and stack join along existing and new dimensions', () => {
    const a = t.tensor([[1, 2]])
    const b = t.tensor([[3, 4]])
    assert.deepEqual(t.cat([a, b], 0).shape, [2, 2])
    assert.deepEqual(t.cat([a, b], 1).toArray(), [1, 2, 3, 4])
    assert.deepEqual(t.stack([a, b], 0).shape, [2, 1, 2])
  })

  it('channels-last changes strides, not values', () => {
    const y = t.randn([2, 3, 4, 5])
    const cl = y.contiguous('channelsLast')
    assert.ok(cl.isContiguous('channelsLast'))
    assert.ok(!cl.isContiguous())
    assert.deepEqual(cl.toArray(), y.toArray())
  })

  it('zerosLike and fullLike keep a channels-last layout, as torch.zeros_like does', () => {
    // Optimizer state made this way is laid out as its weight: Adam's element-wise updates of a
    // channels-last weight against a contiguous state ran 2.7x slower (resnet18: 30 against 11 ms).
    const cl = t.randn([2, 3, 4, 5]).contiguous('channelsLast')
    const zeros = t.zerosLike(cl)
    assert.ok(zeros.isContiguous('channelsLast') && !zeros.isContiguous())
    assert.deepEqual(zeros.shape, [2, 3, 4, 5])
    assert.ok((zeros.toArray() as number[]).flat(3).every((v) => v === 0))
    const halves = t.fullLike(cl, 0.5, { dtype: 'float64' })
    assert.equal(halves.dtype, 'float64')
    assert.ok(halves.isContiguous('channelsLast'))
    assert.ok(t.zerosLike(t.randn([2, 3])).isContiguous())
  })
})

describe('math', () => {
  it('elementwise ops with scalars keep integer dtypes integral', () => {
    assert.equal(t.arange(3).add(1).dtype, 'int64')
    assert.equal(t.arange(3).mul(0.5).dtype, 'float32')
    assert.deepEqual(t.tensor([1, -2, 3]).abs().toArray(), [1, 2, 3])
    assert.deepEqual(t.tensor([1, 5, 3]).gt(2).toArray(), [0, 1, 1])
    assert.deepEqual(t.tensor([-1, 0.5, 9]).clamp(0, 1).toArray(), [0, 0.5, 1])
  })

  it('reductions over dimensions', () => {
    const m = t.tensor([
      [1, 2, 3],
      [4, 5, 9],
    ])
    assert.deepEqual(m.sum(0).toArray(), [5, 7, 12])
    assert.deepEqual(m.mean(1).toArray(), [2, 6])
    assert.equal(m.max().item(), 9)
    assert.deepEqual(m.argmax(1).toArray(), [2, 2])
    assert.deepEqual(m.sum(1, true).shape, [2, 1])
    const { values, indices } = t.tensor([3, 1, 4, 1, 5]).topk(2)
    assert.deepEqual(values.toArray(), [5, 4])
    assert.deepEqual(indices.toArray(), [4, 2])
  })

  it('matmul of known matrices', () => {
    const a = t.tensor([
      [1, 2],
      [3, 4],
    ])
    assert.deepEqual(a.matmul(a).toArray(), [7, 10, 15, 22])
  })

  it('in-place ops change the tensor itself', () => {
    const a = t.tensor([1, 2, 3])
    a.add_(t.tensor([1, 1, 1]), 2).mul_(2)
    assert.deepEqual(a.toArray(), [6, 8, 10])
    a.zero_()
    assert.deepEqual(a.toArray(), [0, 0, 0])
  })
})

describe('autograd', () => {
  it('backward fills the gradients of leaves: d(sum(x^2 * w))/dx = 2xw', () => {
    const x = t.tensor([1, 2, 3]).requiresGrad_()
    const w = t.tensor([4, 5, 6]).requiresGrad_()
    x.square().mul(w).sum().backward()
    assert.deepEqual(x.grad!.toArray(), [8, 20, 36])
    assert.deepEqual(w.grad!.toArray(), [1, 4, 9])
    assert.ok(x.isLeaf && x.hasGrad)
    x.grad = null
    assert.equal(x.grad, null)
  })

  it('noGrad records nothing, enableGrad inside it does', () => {
    const x = t.tensor([1, 2]).requiresGrad_()
    const y = t.noGrad(() => x.mul(2))
    assert.equal(y.requiresGrad, false)
    const z = t.noGrad(() => t.enableGrad(() => x.mul(2)))
    assert.equal(z.requiresGrad, true)
    assert.equal(t.isGradEnabled(), true)
  })

  it('detach cuts the graph', () => {
    const x = t.tensor([1, 2]).requiresGrad_()
    assert.equal(x.mul(3).detach().requiresGrad, false)
  })

  it('autocast runs convolutions in bfloat16 and leaves the mode as it was', () => {
    const x = t.randn([1, 3, 8, 8])
    const w = t.randn([4, 3, 3, 3])
    const y = t.autocast(() => t.conv2d(x, w))
    assert.equal(y.dtype, 'bfloat16')
    assert.equal(t.conv2d(x, w).dtype, 'float32')
  })
})
