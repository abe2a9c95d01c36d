/**
 * ResNet-18/34/50 with torchvision's structure and parameter names (conv1, bn1, layer1.0.conv1,
 * layer2.0.downsample.0, fc, ...), so torchvision and timm weights load unchanged, and torchvision's
 * initialisation (He normal, fan-out) for training from scratch.
 * @see torchvision.models.resnet
 * @module
 */
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  kaimingNormal_,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
} from '../nn/index.js'
import { relu, scope, type Tensor } from '../torch/index.js'

function conv3x3(inChannels: number, outChannels: number, stride = 1): Conv2d {
  return new Conv2d(inChannels, outChannels, 3, { stride, padding: 1, bias: false })
}
function conv1x1(inChannels: number, outChannels: number, stride = 1): Conv2d {
  return new Conv2d(inChannels, outChannels, 1, { stride, bias: false })
}

interface Block extends Module {
  forward(x: Tensor): Tensor
}
type BlockClass = {
  new (inChannels: number, width: number, stride: number, downsample: Sequential | null): Block
  expansion: number
}

export class BasicBlock extends Module implements Block {
  static readonly expansion = 1
  readonly conv1: Conv2d
  readonly bn1: BatchNorm2d
  readonly conv2: Conv2d
  readonly bn2: BatchNorm2d
  readonly downsample: Sequential | null

  constructor(inChannels: number, width: number, stride = 1, downsample: Sequential | null = null) {
    super()
    this.conv1 = this.registerModule('conv1', conv3x3(inChannels, width, stride))
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width))
    this.registerModule('relu', new ReLU())
    this.conv2 = this.registerModule('conv2', conv3x3(width, width))
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(width))
    this.downsample = downsample === null ? null : this.registerModule('downsample', downsample)
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const identity = this.downsample ? this.downsample.forward(x) : x
      const out = this.bn2.forward(
        this.conv2.forward(relu(this.bn1.forward(this.conv1.forward(x)))),
      )
      return relu(out.add(identity))
    })
  }
}

/** torchvision's (v1.5) bottleneck: the stride sits on the 3x3 convolution. */
export class Bottleneck extends Module implements Block {
  static readonly expansion = 4
  readonly conv1: Conv2d
  readonly bn1: BatchNorm2d
  readonly conv2: Conv2d
  readonly bn2: BatchNorm2d
  readonly conv3: Conv2d
  readonly bn3: BatchNorm2d
  readonly downsample: Sequential | null

  constructor(inChannels: number, width: number, stride = 1, downsample: Sequential | null = null) {
    super()
    this.conv1 = this.registerModule('conv1', conv1x1(inChannels, width))
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width))
    this.conv2 = this.registerModule('conv2', conv3x3(width, width, stride))
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(width))
    this.conv3 = this.registerModule('conv3', conv1x1(width, width * Bottleneck.expansion))
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(width * Bottleneck.expansion))
    this.registerModule('relu', new ReLU())
    this.downsample = downsample === null ? null : this.registerModule('downsample', downsample)
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const identity = this.downsample ? this.downsample.forward(x) : x
      let out = relu(this.bn1.forward(this.conv1.forward(x)))
      out = relu(this.bn2.forward(this.conv2.forward(out)))
      out = this.bn3.forward(this.conv3.forward(out))
      return relu(out.add(identity))
    })
  }
}

export class ResNet extends Module {
  readonly conv1: Conv2d
  readonly bn1: BatchNorm2d
  readonly maxpool: MaxPool2d
  readonly layers: Sequential[]
  readonly avgpool: AdaptiveAvgPool2d
  /** The ImageNet-style classifier; null for a feature-only backbone (numClasses 0). */
  readonly fc: Linear | null
  /** Channels of the last block's output (512 for resnet18/34, 2048 for resnet50). */
  readonly features: number

  constructor(block: BlockClass, counts: [number, number, number, number], numClasses = 1000) {
    super()
    this.conv1 = this.registerModule(
      'conv1',
      new Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false }),
    )
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(64))
    this.registerModule('relu', new ReLU())
    this.maxpool = this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }))
    let inChannels = 64
    this.layers = counts.map((count, i) => {
      const width = 64 * 2 ** i
      const stride = i === 0 ? 1 : 2
      const out = width * block.expansion
      const downsample =
        stride !== 1 || inChannels !== out
          ? new Sequential(conv1x1(inChannels, out, stride), new BatchNorm2d(out))
          : null
      const blocks: Block[] = [new block(inChannels, width, stride, downsample)]
      for (let b = 1; b < count; b++) blocks.push(new block(out, width, 1, null))
      inChannels = out
      return this.registerModule(`layer${i + 1}`, new Sequential(...blocks))
    })
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1))
    this.features = inChannels
    this.fc = numClasses > 0 ? this.registerModule('fc', new Linear(inChannels, numClasses)) : null
    for (const module of this.modules()) {
      if (module instanceof Conv2d)
        kaimingNormal_(module.weight, { mode: 'fanOut', nonlinearity: 'relu' })
    }
  }

  /** The feature map of the last block (N x features x H/32 x W/32). */
  forwardFeatures(x: Tensor): Tensor {
    return scope(() => {
      let out = this.maxpool.forward(relu(this.bn1.forward(this.conv1.forward(x))))
      for (const layer of this.layers) out = layer.forward(out)
      return out
    })
  }

  forward(x: Tensor): Tensor {
    const fc = this.fc
    if (!fc)
      throw new Error(
        'This ResNet was built without a classifier (numClasses 0); use forwardFeatures',
      )
    return scope(() => fc.forward(this.avgpool.forward(this.forwardFeatures(x)).flatten(1)))
  }
}

export function resnet18(numClasses = 1000): ResNet {
  return new ResNet(BasicBlock, [2, 2, 2, 2], numClasses)
}
export function resnet34(numClasses = 1000): ResNet {
  return new ResNet(BasicBlock, [3, 4, 6, 3], numClasses)
}
export function resnet50(numClasses = 1000): ResNet {
  return new ResNet(Bottleneck, [3, 4, 6, 3], numClasses)
}
