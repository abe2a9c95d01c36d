/**
 * Layers and the Module base, as torch.nn.
 * @module
 */
export { ReLU, ReLU6, Sigmoid } from './activation.js'
export { BatchNorm1d, BatchNorm2d, type BatchNormOptions } from './batchnorm.js'
export { Flatten, Sequential } from './container.js'
export { Conv2d, samePadding, type Conv2dOptions, type Conv2dPadding } from './conv.js'
export { Dropout } from './dropout.js'
export {
  calculateGain,
  constant_,
  defaultLayerInit,
  fanInAndFanOut,
  kaimingNormal_,
  kaimingUniform_,
  normal_,
  ones_,
  uniform_,
  zeros_,
  type KaimingOptions,
  type Nonlinearity,
} from './init.js'
export { Linear } from './linear.js'
export { Module, type StateDict } from './module.js'
export { Parameter } from './parameter.js'
export {
  AdaptiveAvgPool2d,
  AdaptiveConcatPool2d,
  AdaptiveMaxPool2d,
  AvgPool2d,
  MaxPool2d,
  type AvgPool2dOptions,
  type MaxPool2dOptions,
} from './pooling.js'
