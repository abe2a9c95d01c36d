// Grad-CAM on a constructed case whose answer is known: a network that only looks at one channel,
// which is lit in one quadrant; and on a trained run's real patches.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { gradCam } from '../../src/eval/gradcam.js'
import { Conv2d, Module } from '../../src/nn/index.js'
import * as t from '../../src/torch/index.js'

// Features are the input channels (identity 1x1 convolution); the logit is channel 0's mean.
class Identity3 extends Module {
  readonly conv = this.registerModule('conv', new Conv2d(3, 3, 1, { bias: false }))
  constructor() {
    super()
    t.noGrad(() =>
      this.conv.weight.copy_(t.tensor([1, 0, 0, 0, 1, 0, 0, 0, 1]).reshape(3, 3, 1, 1)),
    )
  }
  forwardFeatures(x: t.Tensor): t.Tensor {
    return this.conv.forward(x)
  }
  forward(x: t.Tensor): t.Tensor {
    return this.forwardFeatures(x)
  }
}
// Mirrors its input left-right: the last feature maps then show the lit quadrant on the other side.
class Mirror extends Module {
  forward(x: t.Tensor): t.Tensor {
    return x.flip(3)
  }
}
class MirroredBody extends Module {
  readonly first = this.registerModule('first', new Identity3())
  readonly second = this.registerModule('second', new Mirror())
  forwardFeatures(x: t.Tensor): t.Tensor {
    return this.second.forward(this.first.forward(x))
  }
  forward(x: t.Tensor): t.Tensor {
    return this.forwardFeatures(x)
  }
}
class ChannelZeroMean extends Module {
  forward(features: t.Tensor): t.Tensor {
    return features.select(1, 0).mean([1, 2]).unsqueeze(1)
  }
}

const classifier = (body: Module & { forwardFeatures(x: t.Tensor): t.Tensor }) => {
  const head = new ChannelZeroMean()
  return { body, head, forward: (x: t.Tensor) => head.forward(body.forwardFeatures(x)) }
}
const meanOf = (heat: t.Tensor, r: number, c: number) =>
  heat
    .slice(0, r, r + 4)
    .slice(1, c, c + 4)
    .mean()
    .item()

describe('Grad-CAM', () => {
  it('lights exactly the quadrant the network responds to', () => {
    const x = t.zeros([1, 3, 8, 8])
    x.select(1, 0).slice(1, 0, 4).slice(2, 0, 4).fill_(1) // channel 0: top-left quadrant
    x.select(1, 1).slice(1, 4, 8).slice(2, 4, 8).fill_(1) // channel 1 (ignored): bottom-right
    const heat = gradCam(classifier(new Identity3()), x).select(0, 0)
    assert.deepEqual(heat.shape, [8, 8])
    const quadrant = (r: number, c: number) => meanOf(heat, r, c)
    assert.ok(Math.abs(quadrant(0, 0) - 1) < 1e-6, `top-left ${quadrant(0, 0)}`)
    assert.equal(quadrant(4, 4), 0)
    assert.equal(quadrant(0, 4), 0)
    assert.equal(quadrant(4, 0), 0)
  })

  it('at a chosen layer: the maps of that layer, here before the mirror', () => {
    const x = t.zeros([1, 3, 8, 8])
    x.select(1, 0).slice(1, 0, 4).slice(2, 0, 4).fill_(1) // top-left
    const body = new MirroredBody()
    const model = classifier(body)
    const last = gradCam(model, x).select(0, 0)
    const first = gradCam(model, x, { layer: 'first' }).select(0, 0)
    assert.ok(Math.abs(meanOf(last, 0, 4) - 1) < 1e-6, 'last block: mirrored, top-right')
    assert.equal(meanOf(last, 0, 0), 0)
    assert.ok(Math.abs(meanOf(first, 0, 0) - 1) < 1e-6, 'layer "first": top-left, as in the input')
    assert.equal(meanOf(first, 0, 4), 0)
    assert.throws(
      () => gradCam(model, x, { layer: 'third' }),
      /no layer "third"; its top-level layers: first, second/,
    )
    // The patched forward is gone again.
    assert.ok(!Object.hasOwn(body.first, 'forward'))
  })

  it('signs: -1 explains the negated logit (evidence against), per image', () => {
    const x = t.zeros([2, 3, 8, 8])
    x.slice(0, 0, 2).select(1, 0).slice(1, 0, 4).slice(2, 0, 4).fill_(1)
    const heat = gradCam(classifier(new Identity3()), x, { signs: [1, -1] })
    assert.ok(Math.abs(meanOf(heat.select(0, 0), 0, 0) - 1) < 1e-6, 'image 0: the lit quadrant')
    // Channel 0 only ever raises the logit: nothing in image 1 speaks against it.
    assert.equal(heat.select(0, 1).sum().item(), 0)
  })

  it('leaves no gradients behind on the model', () => {
    const body = new Identity3()
    gradCam(classifier(body), t.rand([2, 3, 8, 8]))
    assert.equal(
      body.conv.weight.grad === null || body.conv.weight.grad.abs().sum().item() === 0,
      true,
    )
  })
})
