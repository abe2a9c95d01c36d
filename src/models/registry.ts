/**
 * Every architecture by name, wrapped as a patch classifier: a backbone ("body") and a head, with
 * the layer groups (early body / late body / head) that freezing and discriminative learning
 * rates work on.
 * @module
 */
import { ValidationError } from '../errors.js'
import {
  AdaptiveAvgPool2d,
  AdaptiveConcatPool2d,
  BatchNorm1d,
  Dropout,
  Flatten,
  Linear,
  Module,
  ReLU,
  Sequential,
  type Parameter,
} from '../nn/index.js'
import { scope, type Tensor } from '../torch/index.js'
import { MobileNetV1 } from './mobilenet-v1.js'
import { MobileNetV2 } from './mobilenet-v2.js'
import { ResNet, resnet18, resnet34, resnet50 } from './resnet.js'
import { SmallCnn } from './small.js'

/** The names of the architectures createModel builds. */
export const ARCHITECTURES = [
  'small',
  'resnet18',
  'resnet34',
  'resnet50',
  'mobilenet_v1',
  'mobilenet_v2',
] as const
/** An architecture's name (`pcam train --arch`). */
export type Architecture = (typeof ARCHITECTURES)[number]
/** The head (`pcam train --head`): concat, fastai's (concatHead), or linear (linearHead). */
export type HeadKind = 'concat' | 'linear'

export interface Backbone extends Module {
  /** Patches (N x 3 x H x W) to the last block's feature map (N x channels x h x w). */
  forwardFeatures(x: Tensor): Tensor
  /** Channels of the feature map (the small CNN and the MobileNets; ResNets use features). */
  readonly lastChannels?: number
  /**
   * A ResNet's feature-map channels (a number); the layer stack (a Sequential) in the small CNN
   * and the MobileNets.
   */
  readonly features?: unknown
}

/** What a PatchClassifier is built from; recorded as `model` in the run's config.json. */
export interface ModelSpec {
  /** The backbone's architecture (`pcam train --arch`). */
  arch: Architecture
  /** Outputs: 1 for binary classification with BCE (PCam), else the number of classes. */
  numClasses: number
  /** The head on top of the backbone (`pcam train --head`). */
  head: HeadKind
  /** MobileNet v1 width multiplier. */
  alpha?: number
}

/** Where the late part of each backbone starts (for the early / late layer groups). */
const LATE_BODY: Record<Architecture, string> = {
  small: 'features.8',
  resnet18: 'layer3',
  resnet34: 'layer3',
  resnet50: 'layer3',
  mobilenet_v1: 'features.6',
  mobilenet_v2: 'features.7',
}

export function backbone(spec: ModelSpec): { body: Backbone; channels: number } {
  switch (spec.arch) {
    case 'small': {
      const body = new SmallCnn()
      return { body, channels: body.lastChannels }
    }
    case 'resnet18':
    case 'resnet34':
    case 'resnet50': {
      const body: ResNet = { resnet18, resnet34, resnet50 }[spec.arch](0)
      return { body, channels: body.features }
    }
    case 'mobilenet_v1': {
      const body = new MobileNetV1(0, { alpha: spec.alpha ?? 1 })
      return { body, channels: body.lastChannels }
    }
    case 'mobilenet_v2': {
      const body = new MobileNetV2(0)
      return { body, channels: body.lastChannels }
    }
  }
}

/** The reference study's head (fastai): concat pooling, BN, dropout 0.25, 512, ReLU, BN, dropout 0.5. */
export function concatHead(channels: number, numClasses: number): Sequential {
  return new Sequential(
    new AdaptiveConcatPool2d(),
    new Flatten(),
    new BatchNorm1d(2 * channels),
    new Dropout(0.25),
    new Linear(2 * channels, 512),
    new ReLU(),
    new BatchNorm1d(512),
    new Dropout(0.5),
    new Linear(512, numClasses),
  )
}

export function linearHead(channels: number, numClasses: number): Sequential {
  return new Sequential(new AdaptiveAvgPool2d(1), new Flatten(), new Linear(channels, numClasses))
}

/** A backbone ("body") and a classification head: the network every run trains. */
export class PatchClassifier extends Module {
  /** The backbone: patches to feature maps. */
  readonly body: Backbone
  /** The head: feature maps to one logit per output. */
  readonly head: Sequential

  constructor(
    /** The architecture, head and outputs the model was built with. */
    readonly spec: ModelSpec,
  ) {
    super()
    if (!(ARCHITECTURES as readonly string[]).includes(spec.arch)) {
      throw new ValidationError(
        `Unknown architecture "${spec.arch}"; choose one of ${ARCHITECTURES.join(', ')}`,
      )
    }
    const { body, channels } = backbone(spec)
    this.body = this.registerModule('body', body)
    const head =
      spec.head === 'concat'
        ? concatHead(channels, spec.numClasses)
        : linearHead(channels, spec.numClasses)
    this.head = this.registerModule('head', head)
  }

  /** Logits (N x numClasses) for a normalised float batch N x 3 x H x W. */
  forward(x: Tensor): Tensor {
    return scope(() => this.head.forward(this.body.forwardFeatures(x)))
  }

  /**
   * Parameters in three groups (early body, late body, head): what freeze() and discriminative
   * learning rates act on.
   */
  layerGroups(): Parameter[][] {
    const late = LATE_BODY[this.spec.arch]
    const early: Parameter[] = []
    const rest: Parameter[] = []
    let inLate = false
    for (const [name, p] of this.body.namedParameters()) {
      if (name === late || name.startsWith(`${late}.`)) inLate = true
      ;(inLate ? rest : early).push(p)
    }
    return [early, rest, [...this.head.parameters()]]
  }
}

/** A new, untrained PatchClassifier for `spec` (pretrained weights are loaded separately). */
export function createModel(spec: ModelSpec): PatchClassifier {
  return new PatchClassifier(spec)
}
