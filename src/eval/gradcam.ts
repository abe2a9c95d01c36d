/**
 * Grad-CAM (Selvaraju et al.): where a classifier looked. The feature maps of a layer (by default
 * the last convolutional block) are weighted by the mean gradient of the logit with respect to
 * each, summed, rectified, scaled to [0, 1] per image and resized to the input.
 * @module
 */
import { ValidationError } from '../errors.js'
import type { Module } from '../nn/index.js'
import { cat, enableGrad, interpolate, keep, scope, tensor, type Tensor } from '../torch/index.js'

/** A model split as Grad-CAM needs it: a body with feature maps, and a head giving logits. */
export interface FeatureClassifier {
  body: Module & { forwardFeatures(x: Tensor): Tensor }
  head: Module
  forward(x: Tensor): Tensor
}

export interface GradCamOptions {
  /** A module of the body by its state-dict name (e.g. "layer3", "features.7"); default: the last block. */
  layer?: string
  /** Which logit to explain. */
  output?: number
  /**
   * Per image, +1 to explain the logit, -1 to explain its negation: with one logit for two
   * classes, -1 shows the evidence for the negative class.
   */
  signs?: number[]
}

/**
 * Runs the model with the output of `layer` cut from its past and made a leaf, so backward stops
 * there and leaves its gradient; returns the logits and that leaf.
 */
function forwardThrough(model: FeatureClassifier, x: Tensor, layer: string) {
  const target = new Map(model.body.namedModules()).get(layer)
  if (!target || layer === '') {
    const names = [...model.body.namedChildren()].map(([n]) => n).join(', ')
    throw new ValidationError(`The model has no layer "${layer}"; its top-level layers: ${names}`)
  }
  let features: Tensor | null = null
  const hook = target.registerForwardHook((_module, _inputs, output) => {
    features = keep(output.detach().requiresGrad_())
    return features
  })
  try {
    const logits = model.forward(x)
    if (!features) throw new ValidationError(`Layer "${layer}" is not used by the forward pass`)
    return { logits, features: features as Tensor }
  } catch (error) {
    ;(features as Tensor | null)?.dispose()
    throw error
  } finally {
    hook.remove()
  }
}

/**
 * Heatmaps (N x H x W in [0, 1]) for logit `output` of inputs x (N x 3 x H x W).
 * @example const heat = gradCam(model, x, { layer: 'layer3' }) // model in eval mode
 */
export function gradCam(model: FeatureClassifier, x: Tensor, options: GradCamOptions = {}): Tensor {
  const { layer, output = 0 } = options
  return enableGrad(() =>
    scope(() => {
      let logits: Tensor
      let features: Tensor
      if (layer === undefined) {
        features = model.body.forwardFeatures(x).detach().requiresGrad_()
        logits = model.head.forward(features)
      } else {
        ;({ logits, features } = forwardThrough(model, x, layer))
      }
      try {
        const chosen = logits.select(1, output)
        const signed = options.signs
          ? chosen.mul(tensor(options.signs, { device: chosen.device }))
          : chosen
        signed.sum().backward()
        const grads = features.grad as Tensor
        const weights = grads.mean([2, 3], true)
        const cam = features.detach().mul(weights).sum(1, true).relu()
        const max = cam.max([2, 3], true).clamp(1e-12, null)
        const [height, width] = x.shape.slice(2) as [number, number]
        const resized = interpolate(cam.div(max), [height, width], { mode: 'bilinear' })
        return resized.squeeze(1).clamp(0, 1)
      } finally {
        if (layer !== undefined) features.dispose()
      }
    }),
  )
}

/** Jet colours of heatmaps (... x H x W in [0, 1]) as ... x H x W x 3 floats in [0, 1]. */
export function jet(heat: Tensor): Tensor {
  return scope(() => {
    const channel = (centre: number) => heat.mul(4).sub(centre).abs().neg().add(1.5).clamp(0, 1)
    return cat(
      [channel(3), channel(2), channel(1)].map((c) => c.unsqueeze(-1)),
      -1,
    )
  })
}

/** Patches (N x H x W x 3 uint8) blended half and half with their heatmaps' jet colours. */
export function overlayHeatmaps(patches: Tensor, heat: Tensor): Tensor {
  return scope(() => {
    const [height, width] = patches.shape.slice(1, 3) as [number, number]
    const resized = interpolate(heat.unsqueeze(1), [height, width], { mode: 'bilinear' })
    const colours = jet(resized.squeeze(1).clamp(0, 1))
    const original = patches.float().div(255)
    return original.mul(0.5).add(colours.mul(0.5)).mul(255).round().clamp(0, 255).to('uint8')
  })
}
