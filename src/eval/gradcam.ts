/**
 * Grad-CAM (Selvaraju et al.): where a classifier looked. The feature maps of the last
 * convolutional block are weighted by the mean gradient of the logit with respect to each, summed,
 * rectified, scaled to [0, 1] per image and resized to the input.
 * @module
 */
import type { Module } from '../nn/index.js'
import { enableGrad, interpolate, scope, type Tensor } from '../torch/index.js'

/** A model split as Grad-CAM needs it: a body with feature maps, and a head giving logits. */
export interface FeatureClassifier {
  body: Module & { forwardFeatures(x: Tensor): Tensor }
  head: Module
}

/**
 * Heatmaps (N x H x W in [0, 1]) for the positive logit (column `output`) of inputs x (N x 3 x H x W).
 * @example const heat = gradCam(model, x) // model in eval mode
 */
export function gradCam(model: FeatureClassifier, x: Tensor, output = 0): Tensor {
  return enableGrad(() =>
    scope(() => {
      const features = model.body.forwardFeatures(x).detach().requiresGrad_()
      const logits = model.head.forward(features)
      logits.select(1, output).sum().backward()
      const grads = features.grad as Tensor
      const weights = grads.mean([2, 3], true)
      const cam = features.detach().mul(weights).sum(1, true).relu()
      const max = cam.max([2, 3], true).clamp(1e-12, null)
      const [height, width] = x.shape.slice(2) as [number, number]
      const resized = interpolate(cam.div(max), [height, width], { mode: 'bilinear' })
      return resized.squeeze(1).clamp(0, 1)
    }),
  )
}
