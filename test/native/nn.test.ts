// Modules and layers: PyTorch's state-dict names, loading rules, modes, layouts, init, learning.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { StateDictError } from '../../src/errors.js'
import * as nn from '../../src/nn/index.js'
import * as t from '../../src/torch/index.js'

class Block extends nn.Module {
  readonly conv1: nn.Conv2d
  readonly bn1: nn.BatchNorm2d
  constructor() {
    super()
    this.conv1 = this.registerModule('conv1', new nn.Conv2d(3, 4, 3, { padding: 1, bias: false }))
    this.bn1 = this.registerModule('bn1', new nn.BatchNorm2d(4))
  }
  forward(x: t.Tensor): t.Tensor {
    return t.relu(this.bn1.forward(this.conv1.forward(x)))
  }
}

describe('Module', () => {
  it("state dict keys are PyTorch's dotted names, Sequential children are numbered", () => {
    const model = new nn.Sequential(new Block(), new nn.Flatten(), new nn.Linear(4 * 4 * 4, 2))
    assert.deepEqual(
      [...model.stateDict().keys()],
      [
        '0.conv1.weight',
        '0.bn1.weight',
        '0.bn1.bias',
        '0.bn1.running_mean',
        '0.bn1.running_var',
        '0.bn1.num_batches_tracked',
        '2.weight',
        '2.bias',
      ],
    )
    assert.deepEqual(
      [...model.namedParameters()].map(([n]) => n),
      ['0.conv1.weight', '0.bn1.weight', '0.bn1.bias', '2.weight', '2.bias'],
    )
    assert.equal(model.stateDict().get('0.bn1.num_batches_tracked')!.dtype, 'int64')
  })

  it('loadStateDict copies values and reports every problem at once', () => {
    const a = new Block()
    const b = new Block()
    b.loadStateDict(a.stateDict())
    assert.deepEqual(b.conv1.weight.toArray(), a.conv1.weight.toArray())

    const broken = new Map(a.stateDict())
    broken.delete('bn1.bias')
    broken.set('fc.weight', t.ones([1]))
    broken.set('conv1.weight', t.ones([4, 3, 5, 5]))
    assert.throws(
      () => b.loadStateDict(broken),
      (e: unknown) =>
        e instanceof StateDictError &&
        e.message.includes('Missing key(s) in state_dict: "bn1.bias".') &&
        e.message.includes('Unexpected key(s) in state_dict: "fc.weight".') &&
        e.message.includes('size mismatch for conv1.weight: copying a param with shape [4,3,5,5]'),
    )
    const partial = new Map(a.stateDict())
    partial.delete('bn1.bias')
    assert.deepEqual(b.loadStateDict(partial, { strict: false }).missing, ['bn1.bias'])
  })

  it('train() and eval() reach every submodule; batch norm tracks statistics only in training', () => {
    const bn = new nn.BatchNorm2d(2)
    const model = new nn.Sequential(bn)
    const x = t.randn([8, 2, 4, 4]).add(3)
    model.train()
    model.forward(x)
    assert.equal(bn.numBatchesTracked!.item(), 1)
    const mean = x.mean([0, 2, 3]).toArray()
    assert.deepEqual(
      bn.runningMean!.toArray().map((v) => +v.toFixed(5)),
      mean.map((m) => +(0.1 * m).toFixed(5)),
    )
    model.eval()
    assert.equal(bn.training, false)
    const before = bn.runningMean!.toArray()
    model.forward(x)
    assert.deepEqual(bn.runningMean!.toArray(), before)
    assert.equal(bn.numBatchesTracked!.item(), 1)
  })

  it('toChannelsLast changes the layout in place and keeps parameter identity and values', () => {
    const conv = new nn.Conv2d(3, 8, 3)
    const weight = conv.weight
    const values = weight.toArray()
    conv.toChannelsLast()
    assert.equal(conv.weight, weight)
    assert.ok(conv.weight.isContiguous('channelsLast'))
    assert.deepEqual(conv.weight.toArray(), values)
    assert.ok(conv.weight.requiresGrad)
  })

  it('to(dtype) casts floating tensors and leaves integer buffers alone', () => {
    const bn = new nn.BatchNorm2d(2).to('float64')
    assert.equal(bn.weight!.dtype, 'float64')
    assert.equal(bn.numBatchesTracked!.dtype, 'int64')
  })

  it("fresh conv and linear weights follow PyTorch's default init bounds", () => {
    const conv = new nn.Conv2d(16, 32, 3)
    const bound = 1 / Math.sqrt(16 * 9)
    const w = conv.weight.toArray()
    assert.ok(w.every((v) => Math.abs(v) <= bound))
    assert.ok(Math.abs(conv.weight.std().item() - bound / Math.sqrt(3)) < bound * 0.05)
    assert.ok(conv.bias!.toArray().every((v) => Math.abs(v) <= bound))
  })

  it('toString prints the tree like PyTorch', () => {
    const text = new nn.Sequential(
      new nn.Conv2d(3, 4, 3, { bias: false }),
      new nn.ReLU(),
    ).toString()
    assert.match(
      text,
      /^Sequential\(\n {2}\(0\): Conv2d\(3, 4, kernel_size=\(3,3\), stride=\(1,1\), bias=False\)/,
    )
    assert.match(text, /\(1\): ReLU\(\)\n\)$/)
  })
})

describe('forward hooks', () => {
  it('see every forward, may replace the output, and come off in reverse order', () => {
    const relu = new nn.ReLU()
    const net = new nn.Sequential(new nn.Flatten(), relu)
    const seen: number[][] = []
    const first = relu.registerForwardHook((_m, _inputs, output) => {
      seen.push(output.toArray() as number[])
    })
    const second = relu.registerForwardHook((_m, _inputs, output) => output.mul(10))
    const x = t.tensor([-1, 2]).reshape(1, 2)
    assert.deepEqual(net.forward(x).toArray(), [0, 20])
    assert.deepEqual(seen, [[0, 2]])
    assert.throws(() => first.remove(), /reverse order/)
    second.remove()
    first.remove()
    assert.deepEqual(net.forward(x).toArray(), [0, 2])
    assert.ok(!Object.hasOwn(relu, 'forward'), "the class's own forward is back")
    assert.equal(seen.length, 1)
  })
})

describe('layers', () => {
  it('Conv2d "same" padding matches TensorFlow: output ceil(size / stride), extra pixel after', () => {
    assert.deepEqual(nn.samePadding(224, 3, 2, 1), [0, 1])
    assert.deepEqual(nn.samePadding(225, 3, 2, 1), [1, 1])
    assert.deepEqual(nn.samePadding(96, 3, 1, 1), [1, 1])
    const conv = new nn.Conv2d(3, 4, 3, { stride: 2, padding: 'same' })
    assert.deepEqual(conv.forward(t.randn([1, 3, 224, 224])).shape, [1, 4, 112, 112])
    assert.deepEqual(conv.forward(t.randn([1, 3, 7, 7])).shape, [1, 4, 4, 4])
  })

  it('Dropout drops about p of the elements in training and none in eval', () => {
    const drop = new nn.Dropout(0.3)
    const y = drop.forward(t.ones([20000]))
    const zeros = y.eq(0).float().mean().item()
    assert.ok(Math.abs(zeros - 0.3) < 0.02, `dropped ${zeros}`)
    assert.ok(Math.abs(y.max().item() - 1 / 0.7) < 1e-5)
    drop.eval()
    assert.equal(
      drop
        .forward(t.ones([100]))
        .min()
        .item(),
      1,
    )
  })

  it('pools and ReLU6 give hand-computed values', () => {
    const x = t.arange(16).float().reshape(1, 1, 4, 4)
    assert.deepEqual(new nn.MaxPool2d(2).forward(x).toArray(), [5, 7, 13, 15])
    assert.deepEqual(new nn.AvgPool2d(2).forward(x).toArray(), [2.5, 4.5, 10.5, 12.5])
    assert.deepEqual(new nn.AdaptiveAvgPool2d(1).forward(x).toArray(), [7.5])
    assert.deepEqual(new nn.AdaptiveMaxPool2d(1).forward(x).toArray(), [15])
    assert.deepEqual(new nn.ReLU6().forward(t.tensor([-1, 3, 9])).toArray(), [0, 3, 6])
  })
})

describe('learning', () => {
  it('a small CNN learns which quadrant of an image is bright (held-out accuracy > 95%)', () => {
    t.manualSeed(42)
    // Images of noise with one brighter quadrant; the label is the quadrant (4 classes).
    const makeData = (n: number) =>
      t.scope(() => {
        const labels = t.randint(0, 4, [n])
        const images = t.randn([n, 1, 16, 16]).mul(0.5)
        const ids = labels.toArray()
        for (let i = 0; i < n; i++) {
          const q = ids[i] as number
          images
            .select(0, i)
            .slice(1, (q >> 1) * 8, (q >> 1) * 8 + 8)
            .slice(2, (q & 1) * 8, (q & 1) * 8 + 8)
            .add_(1)
        }
        return { images, labels }
      })
    const train = makeData(512)
    const test = makeData(256)
    const model = new nn.Sequential(
      new nn.Conv2d(1, 8, 3, { padding: 1 }),
      new nn.BatchNorm2d(8),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Conv2d(8, 16, 3, { padding: 1 }),
      new nn.ReLU(),
      new nn.AdaptiveMaxPool2d(2),
      new nn.Flatten(),
      new nn.Linear(64, 4),
    )
    const optimizer = new t.AdamW([...model.parameters()], { lr: 1e-2 })
    for (let epoch = 0; epoch < 4; epoch++) {
      const order = t.randperm(512)
      for (let start = 0; start < 512; start += 32) {
        t.scope(() => {
          const idx = order.slice(0, start, start + 32)
          const loss = t.crossEntropy(
            model.forward(train.images.indexSelect(0, idx)),
            train.labels.indexSelect(0, idx),
          )
          optimizer.zeroGrad()
          loss.backward()
          optimizer.step()
        })
      }
    }
    model.eval()
    const accuracy = t.noGrad(() =>
      t.scope(() => model.forward(test.images).argmax(1).eq(test.labels).float().mean().item()),
    )
    assert.ok(accuracy > 0.95, `held-out accuracy ${accuracy}`)
  })
})
