/**
 * Neural-network functions on tensors, as torch.nn.functional: convolution, normalisation,
 * pooling, resizing, activations, dropout and losses. Options take PyTorch's names and defaults.
 * @module
 */
import { ValidationError } from '../errors.js'
import { checkInteger, checkNumber, pair } from './check.js'
import { native, type Reduction } from './native.js'
import { kHandle, Tensor } from './tensor.js'

/** One number for both, or [height, width]: a size, stride or padding in two dimensions. */
export type Pair = number | [number, number]
const h = (t: Tensor | null | undefined) => (t ? t[kHandle] : null)

/** Options of conv2d; one number stands for the same value in height and width. */
export interface Conv2dOptions {
  /** Step of the kernel over [height, width]; 1 by default. */
  stride?: Pair
  /** Symmetric [height, width] padding, or [left, right, top, bottom] for asymmetric padding. */
  padding?: Pair | [number, number, number, number]
  /** Spacing between kernel elements over [height, width]; 1 by default. */
  dilation?: Pair
  /** Number of independent channel groups (the channel count for depthwise); 1 by default. */
  groups?: number
}

/**
 * 2-D convolution of x (N, C, H, W) with weight (out, C / groups, kH, kW).
 * @see torch.nn.functional.conv2d
 */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: Conv2dOptions = {},
): Tensor {
  const stride = pair(options.stride ?? 1, 'stride', 1)
  const dilation = pair(options.dilation ?? 1, 'dilation', 1)
  const groups = checkInteger(options.groups ?? 1, 'groups', 1)
  const padding = options.padding ?? 0
  if (Array.isArray(padding) && padding.length === 4) {
    // Asymmetric ("same" at stride 2, as TensorFlow pads): pad explicitly, then convolve.
    const padded = pad(x, padding)
    try {
      return new Tensor(
        native.conv2d(padded[kHandle], weight[kHandle], h(bias), stride, [0, 0], dilation, groups),
      )
    } finally {
      padded.dispose()
    }
  }
  const symmetric = pair(padding as Pair, 'padding', 0)
  return new Tensor(
    native.conv2d(x[kHandle], weight[kHandle], h(bias), stride, symmetric, dilation, groups),
  )
}

/** x @ weight.T + bias. @see torch.nn.functional.linear */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  return new Tensor(native.linear(x[kHandle], weight[kHandle], h(bias)))
}

/** Options of batchNorm, with batch_norm's defaults. */
export interface BatchNormOptions {
  /** Per-channel scale (gamma), or null (default) for none. */
  weight?: Tensor | null
  /** Per-channel shift (beta), or null (default) for none. */
  bias?: Tensor | null
  /**
   * Normalise with the batch's statistics and update the running ones, when given (default false:
   * normalise with the running ones).
   */
  training?: boolean
  /** Batch weight m in the running statistics, (1 - m) * running + m * batch; 0.1 by default. */
  momentum?: number
  /** Added to the variance before its square root, for stability (default 1e-5). */
  eps?: number
}

/**
 * Batch normalisation; in training mode it normalises with the batch statistics and updates
 * runningMean / runningVar in place. @see torch.nn.functional.batch_norm
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: BatchNormOptions = {},
): Tensor {
  const { weight = null, bias = null, training = false, momentum = 0.1, eps = 1e-5 } = options
  if (!training && (runningMean === null || runningVar === null)) {
    throw new ValidationError('batchNorm in eval mode needs runningMean and runningVar')
  }
  return new Tensor(
    native.batchNorm(
      x[kHandle],
      h(weight),
      h(bias),
      h(runningMean),
      h(runningVar),
      training,
      momentum,
      eps,
    ),
  )
}

/** Options of maxPool2d and avgPool2d; one number stands for the same value in height and width. */
export interface PoolOptions {
  /** Step of the window over [height, width]; the kernel size by default. */
  stride?: Pair
  /** Implicit padding on both sides over [height, width]; 0 by default. */
  padding?: Pair
  /** Round the output size up, so a partial window at the edge counts; false by default. */
  ceilMode?: boolean
}

/** @see torch.nn.functional.max_pool2d */
export function maxPool2d(
  x: Tensor,
  kernelSize: Pair,
  options: PoolOptions & { dilation?: Pair } = {},
): Tensor {
  const kernel = pair(kernelSize, 'kernelSize', 1)
  const stride = pair(options.stride ?? kernel, 'stride', 1)
  const padding = pair(options.padding ?? 0, 'padding', 0)
  const dilation = pair(options.dilation ?? 1, 'dilation', 1)
  return new Tensor(
    native.maxPool2d(x[kHandle], kernel, stride, padding, dilation, options.ceilMode ?? false),
  )
}

/** @see torch.nn.functional.avg_pool2d */
export function avgPool2d(
  x: Tensor,
  kernelSize: Pair,
  options: PoolOptions & { countIncludePad?: boolean } = {},
): Tensor {
  const kernel = pair(kernelSize, 'kernelSize', 1)
  const stride = pair(options.stride ?? kernel, 'stride', 1)
  const padding = pair(options.padding ?? 0, 'padding', 0)
  const { ceilMode = false, countIncludePad = true } = options
  return new Tensor(
    native.avgPool2d(x[kHandle], kernel, stride, padding, ceilMode, countIncludePad),
  )
}

/**
 * Average-pools x (N, C, H, W) to `outputSize` whatever its input size.
 * @see torch.nn.functional.adaptive_avg_pool2d
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor {
  return new Tensor(native.adaptiveAvgPool2d(x[kHandle], pair(outputSize, 'outputSize', 1)))
}
/**
 * Max-pools x (N, C, H, W) to `outputSize` whatever its input size; returns the values only.
 * @see torch.nn.functional.adaptive_max_pool2d
 */
export function adaptiveMaxPool2d(x: Tensor, outputSize: Pair): Tensor {
  return new Tensor(native.adaptiveMaxPool2d(x[kHandle], pair(outputSize, 'outputSize', 1)))
}

/** How interpolate computes each output pixel from the input pixels around it. */
export type InterpolateMode = 'nearest' | 'bilinear' | 'bicubic'

/** Resizes (N, C, H, W) to `size`. @see torch.nn.functional.interpolate */
export function interpolate(
  x: Tensor,
  size: Pair,
  options: { mode?: InterpolateMode; alignCorners?: boolean } = {},
): Tensor {
  const { mode = 'nearest', alignCorners = false } = options
  if (mode === 'nearest' && alignCorners)
    throw new ValidationError('alignCorners only applies to bilinear and bicubic')
  return new Tensor(native.interpolate(x[kHandle], pair(size, 'size', 1), mode, alignCorners))
}

/** Pads the last dimensions: [left, right, top, bottom, ...] as torch.nn.functional.pad. */
export function pad(
  x: Tensor,
  pads: readonly number[],
  options: { mode?: 'constant' | 'reflect' | 'replicate' | 'circular'; value?: number } = {},
): Tensor {
  const { mode = 'constant', value = 0 } = options
  if (pads.length % 2 !== 0)
    throw new ValidationError(`Expected an even number of pads but received ${pads.length}`)
  return new Tensor(native.pad(x[kHandle], [...pads], mode, value))
}

/**
 * Sampling grid for affine maps theta (N x 2 x 3) over an output of size [N, C, H, W].
 * @see torch.nn.functional.affine_grid
 */
export function affineGrid(
  theta: Tensor,
  size: [number, number, number, number],
  alignCorners = false,
): Tensor {
  return new Tensor(native.affineGrid(theta[kHandle], size, alignCorners))
}

const GRID_MODES = { bilinear: 0, nearest: 1, bicubic: 2 } as const
const GRID_PADDING = { zeros: 0, border: 1, reflection: 2 } as const

/** Samples x (N, C, H, W) at grid (N, H', W', 2) in [-1, 1]. @see torch.nn.functional.grid_sample */
export function gridSample(
  x: Tensor,
  grid: Tensor,
  options: {
    mode?: keyof typeof GRID_MODES
    paddingMode?: keyof typeof GRID_PADDING
    alignCorners?: boolean
  } = {},
): Tensor {
  const { mode = 'bilinear', paddingMode = 'zeros', alignCorners = false } = options
  return new Tensor(
    native.gridSample(
      x[kHandle],
      grid[kHandle],
      GRID_MODES[mode],
      GRID_PADDING[paddingMode],
      alignCorners,
    ),
  )
}

/** max(x, 0) elementwise. @see torch.nn.functional.relu */
export function relu(x: Tensor): Tensor {
  return x.relu()
}
/** min(max(x, 0), 6), the activation of MobileNet. */
export function relu6(x: Tensor): Tensor {
  if (x.dtype !== 'bfloat16') return hardtanh(x, 0, 6)
  // NOTE: libtorch 1.13 has no bfloat16 backward for hardtanh on the CPU. Without a gradient to
  // record, one clamp pass is fastest; with one, relu then clamp: clamp(0, 6)'s bfloat16 backward
  // measured 1.6x slower than the two backward passes together (MobileNet v1, batch 64).
  if (!x.requiresGrad) return x.clamp(0, 6)
  const positive = x.relu()
  try {
    return positive.clamp(null, 6)
  } finally {
    positive.dispose()
  }
}
/** Clamps x to [min, max], [-1, 1] by default. @see torch.nn.functional.hardtanh */
export function hardtanh(x: Tensor, min = -1, max = 1): Tensor {
  return new Tensor(native.hardtanh(x[kHandle], min, max))
}
/** x where positive, negativeSlope * x elsewhere. @see torch.nn.functional.leaky_relu */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  return new Tensor(native.leakyRelu(x[kHandle], negativeSlope))
}
/** 1 / (1 + exp(-x)) elementwise. @see torch.sigmoid */
export function sigmoid(x: Tensor): Tensor {
  return x.sigmoid()
}
/** Exponentials of x normalised to sum to 1 along `dim`. @see torch.nn.functional.softmax */
export function softmax(x: Tensor, dim: number): Tensor {
  return new Tensor(native.softmax(x[kHandle], dim))
}
/** log(softmax(x)) along `dim`, computed stably. @see torch.nn.functional.log_softmax */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return new Tensor(native.logSoftmax(x[kHandle], dim))
}

/** Zeroes elements with probability p and scales the rest by 1/(1-p), in training only. */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  checkNumber(p, 'p', 0, 1)
  return new Tensor(native.dropout(x[kHandle], p, training))
}

/** Options every loss takes. */
export interface LossOptions {
  /** How the per-element losses are combined: mean (default), sum, or none to keep them all. */
  reduction?: Reduction
}

/**
 * Binary cross-entropy on logits, numerically stable. @see torch.nn.functional.binary_cross_entropy_with_logits
 */
export function bceWithLogits(
  logits: Tensor,
  target: Tensor,
  options: LossOptions & { weight?: Tensor; posWeight?: Tensor } = {},
): Tensor {
  const { reduction = 'mean', weight = null, posWeight = null } = options
  return new Tensor(
    native.bceWithLogits(logits[kHandle], target[kHandle], h(weight), h(posWeight), reduction),
  )
}

/** Cross-entropy of logits (N, C) against class indices (N). @see torch.nn.functional.cross_entropy */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  options: LossOptions & { weight?: Tensor; ignoreIndex?: number; labelSmoothing?: number } = {},
): Tensor {
  const { reduction = 'mean', weight = null, ignoreIndex = -100, labelSmoothing = 0 } = options
  checkNumber(labelSmoothing, 'labelSmoothing', 0, 1)
  return new Tensor(
    native.crossEntropy(
      logits[kHandle],
      target[kHandle],
      h(weight),
      reduction,
      ignoreIndex,
      labelSmoothing,
    ),
  )
}

/**
 * Squared error of x against target, averaged unless `reduction` says otherwise.
 * @see torch.nn.functional.mse_loss
 */
export function mseLoss(x: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  return new Tensor(native.mseLoss(x[kHandle], target[kHandle], options.reduction ?? 'mean'))
}
