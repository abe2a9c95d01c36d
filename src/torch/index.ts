/**
 * The public face of the engine: everything above src/torch imports from here.
 * @module
 */
export { autocast, enableGrad, enterAutocast, isGradEnabled, noGrad } from './autograd.js'
export { checkInteger, checkNumber, checkOptions, checkShape, pair } from './check.js'
export {
  arange,
  cat,
  empty,
  fromBytes,
  full,
  fullLike,
  ones,
  onesLike,
  rand,
  randint,
  randn,
  randperm,
  stack,
  tensor,
  where,
  zeros,
  zerosLike,
  type Nested,
  type RandomOptions,
  type TensorOptions,
} from './creation.js'
export {
  checkDevice,
  cpuFeatures,
  cudaBuild,
  cudaDeviceCount,
  cudaDeviceFacts,
  cudaIndex,
  cudaIsAvailable,
  setCudnnBenchmark,
  setCurrentDevice,
  type CpuFeatures,
  type CudaDeviceFacts,
  type Device,
} from './device.js'
export {
  checkDtype,
  DTYPE_BYTES,
  DTYPES,
  isFloatingDtype,
  type Dtype,
  type TypedArray,
} from './dtype.js'
export { Generator } from './generator.js'
export {
  adaptiveAvgPool2d,
  affineGrid,
  adaptiveMaxPool2d,
  avgPool2d,
  batchNorm,
  bceWithLogits,
  conv2d,
  crossEntropy,
  dropout,
  gridSample,
  hardtanh,
  interpolate,
  leakyRelu,
  linear,
  logSoftmax,
  maxPool2d,
  mseLoss,
  pad,
  relu,
  relu6,
  sigmoid,
  softmax,
  type BatchNormOptions,
  type Conv2dOptions,
  type InterpolateMode,
  type LossOptions,
  type Pair,
  type PoolOptions,
} from './functional.js'
export { mmapFile } from './mmap.js'
export { Adam, AdamW, type AdamHyper, type AdamState } from './optim/adam.js'
export { clipGradNorm, Optimizer, type ParamGroup, type ParamsInput } from './optim/optimizer.js'
export { SGD, type SgdHyper, type SgdState } from './optim/sgd.js'
export {
  buildInfo,
  cpuBlockCacheStats,
  defaultNumThreads,
  emptyCpuBlockCache,
  getNumThreads,
  getRngState,
  mallocEnvironment,
  manualSeed,
  memoryStats,
  setNumThreads,
  setRngState,
  type MemoryStats,
} from './runtime.js'
export type { CpuBlockCacheStats, Reduction } from './native.js'
export { keep, scope, type Disposable } from './scope.js'
export { Tensor, type MemoryFormat, type Operand } from './tensor.js'
export {
  checkBackendBuilt,
  distributedBackends,
  ProcessGroup,
  type Backend,
  type ProcessGroupOptions,
  type ReduceOp,
} from './distributed.js'
