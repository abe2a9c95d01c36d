/**
 * Weight initialisers with PyTorch's formulas, so a fresh pcam layer starts like a fresh torch one.
 * Each writes in place without recording gradients.
 * @see torch.nn.init
 * @module
 */
import { ValidationError } from '../errors.js'
import { noGrad, type Tensor } from '../torch/index.js'

/** The function after a layer, as torch's calculate_gain names it; it sets the init's gain. */
export type Nonlinearity = 'linear' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu'

/** Fan-in and fan-out of a weight (out, in, ...kernel), as torch.nn.init._calculate_fan_in_and_fan_out. */
export function fanInAndFanOut(weight: Tensor): {
  /** Size of dimension 1 (inputs per output unit) times the number of kernel elements. */
  fanIn: number
  /** Size of dimension 0 (output units) times the number of kernel elements. */
  fanOut: number
} {
  const shape = weight.shape
  if (shape.length < 2)
    throw new ValidationError(`Fan in and fan out need at least 2 dimensions, got [${shape}]`)
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1)
  return { fanIn: (shape[1] as number) * receptive, fanOut: (shape[0] as number) * receptive }
}

/** Gain for a nonlinearity, as torch's calculate_gain; `param` is leaky_relu's negative slope. */
export function calculateGain(nonlinearity: Nonlinearity, param = 0.01): number {
  switch (nonlinearity) {
    case 'tanh':
      return 5 / 3
    case 'relu':
      return Math.SQRT2
    case 'leaky_relu':
      return Math.sqrt(2 / (1 + param * param))
    default:
      return 1
  }
}

/** Fills `t` in place from U(low, high) and returns it. */
export function uniform_(t: Tensor, low = 0, high = 1): Tensor {
  return noGrad(() => t.uniform_(low, high))
}
/** Fills `t` in place from N(mean, std²) and returns it. */
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  return noGrad(() => t.normal_(mean, std))
}
/** Fills `t` in place with `value` and returns it. */
export function constant_(t: Tensor, value: number): Tensor {
  return noGrad(() => t.fill_(value))
}
/** Fills `t` in place with zeros and returns it. */
export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0)
}
/** Fills `t` in place with ones and returns it. */
export function ones_(t: Tensor): Tensor {
  return constant_(t, 1)
}

/** Options of kaimingUniform_ and kaimingNormal_, as torch.nn.init.kaiming_*'s arguments. */
export interface KaimingOptions {
  /** Negative slope of the leaky ReLU that follows, for nonlinearity leaky_relu (default 0). */
  a?: number
  /**
   * Fan the variance is scaled by: fanIn keeps the activations' scale in the forward pass, fanOut
   * the gradients' in the backward pass (default fanIn).
   */
  mode?: 'fanIn' | 'fanOut'
  /** The function after the layer, which sets the gain (default leaky_relu; with a = 0, ReLU's). */
  nonlinearity?: Nonlinearity
}

function kaimingStd(t: Tensor, options: KaimingOptions): number {
  const { a = 0, mode = 'fanIn', nonlinearity = 'leaky_relu' } = options
  const { fanIn, fanOut } = fanInAndFanOut(t)
  return calculateGain(nonlinearity, a) / Math.sqrt(mode === 'fanIn' ? fanIn : fanOut)
}

/** He uniform: U(-b, b) with b = gain * sqrt(3 / fan). */
export function kaimingUniform_(t: Tensor, options: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, options)
  return uniform_(t, -bound, bound)
}
/** He normal: N(0, gain / sqrt(fan)); torchvision's ResNets use it with mode fanOut, relu. */
export function kaimingNormal_(t: Tensor, options: KaimingOptions = {}): Tensor {
  return normal_(t, 0, kaimingStd(t, options))
}

/**
 * PyTorch's default for conv and linear layers: weight kaiming_uniform(a=√5), bias U(-1/√fanIn, 1/√fanIn).
 */
export function defaultLayerInit(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, { a: Math.sqrt(5) })
  if (bias !== null) {
    const { fanIn } = fanInAndFanOut(weight)
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0
    uniform_(bias, -bound, bound)
  }
}
