/**
 * Building an ONNX graph from pcam's layers: a builder that names values, holds the weights as
 * initializers and tracks each feature map's channels and spatial size (so convolutions with
 * TensorFlow's "same" padding get their exact, possibly asymmetric, pads), and one emitter per
 * layer kind. Batch norm stays a BatchNormalization node (no folding: bit-level parity first).
 * @module
 */
import { ValidationError } from '../errors.js'
import {
  AdaptiveAvgPool2d,
  AdaptiveConcatPool2d,
  BatchNorm1d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  Linear,
  MaxPool2d,
  ReLU,
  ReLU6,
  Sequential,
  type Module,
} from '../nn/index.js'
import { pair, type Tensor } from '../torch/index.js'
import {
  AttributeType,
  DataType,
  type AttributeMessage,
  type NodeMessage,
  type TensorMessage,
} from './onnx-proto.js'

/** A value in the graph: its name, and its shape after the batch dimension. */
export interface Value {
  name: string
  /** [C, H, W] for feature maps, [C] for flat features. */
  shape: number[]
}

type AttributeValue = number | number[] | { float: number }

function attribute(name: string, value: AttributeValue): AttributeMessage {
  if (typeof value === 'number') return { name, type: AttributeType.INT, i: value }
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value }
  return { name, type: AttributeType.FLOAT, f: value.float }
}

export class GraphBuilder {
  readonly nodes: NodeMessage[] = []
  readonly initializers: TensorMessage[] = []
  /** Put before every name made from here on (an ensemble's member_1/, ...); '' by default. */
  namespace = ''
  /**
   * The names weights are stored under (the model's state-dict names, torchvision's where it has
   * that form), so the file's initializers load by name into the same network elsewhere.
   */
  weightNames = new Map<Tensor, string>()
  #count = 0

  /** A fresh value name with a readable prefix. */
  name(prefix: string): string {
    return `${this.namespace}${prefix}_${this.#count++}`
  }

  node(
    opType: string,
    inputs: string[],
    attributes: Record<string, AttributeValue> = {},
    output = this.name(opType.toLowerCase()),
  ): string {
    this.nodes.push({
      name: `${this.namespace}${opType}_${this.nodes.length}`,
      opType,
      input: inputs,
      output: [output],
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    })
    return output
  }

  /** A float32 initializer. */
  floats(prefix: string, values: Float32Array | number[], dims: number[]): string {
    return this.#initializer(this.name(prefix), values, dims)
  }

  /**
   * A parameter or buffer of pcam's, as float32 in row-major order, under its name in
   * weightNames when it has one. Call inside scope(): float() may make a native tensor
   * (onnxModel's scope frees it).
   */
  weight(prefix: string, tensor: Tensor): string {
    const known = this.weightNames.get(tensor)
    const name = known === undefined ? this.name(prefix) : `${this.namespace}${known}`
    return this.#initializer(name, tensor.float().data() as Float32Array, tensor.shape)
  }

  #initializer(name: string, values: Float32Array | number[], dims: number[]): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values)
    const rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    this.initializers.push({ name, dims, dataType: DataType.FLOAT, rawData })
    return name
  }
}

function featureMap(x: Value, layer: string): [number, number, number] {
  if (x.shape.length !== 3)
    throw new ValidationError(`${layer} expects a feature map but receives shape [N, ${x.shape}]`)
  return x.shape as [number, number, number]
}

export function conv(g: GraphBuilder, conv: Conv2d, x: Value): Value {
  const [, height, width] = featureMap(x, 'Conv2d')
  const p = conv.paddingFor(height, width)
  // pcam: [top, left] or [left, right, top, bottom]; ONNX: [top, left, bottom, right].
  const pads = p.length === 2 ? [p[0], p[1], p[0], p[1]] : [p[2], p[0], p[3], p[1]]
  const inputs = [x.name, g.weight('weight', conv.weight)]
  if (conv.bias) inputs.push(g.weight('bias', conv.bias))
  const [kh, kw] = conv.kernelSize
  const name = g.node('Conv', inputs, {
    kernel_shape: [kh, kw],
    strides: conv.stride,
    pads,
    dilations: conv.dilation,
    group: conv.groups,
  })
  const out = (size: number, k: number, s: number, d: number, before: number, after: number) =>
    Math.floor((size + before + after - d * (k - 1) - 1) / s) + 1
  return {
    name,
    shape: [
      conv.outChannels,
      out(height, kh, conv.stride[0], conv.dilation[0], pads[0]!, pads[2]!),
      out(width, kw, conv.stride[1], conv.dilation[1], pads[1]!, pads[3]!),
    ],
  }
}

/** Eval-mode batch norm with the running statistics. */
export function batchNorm(g: GraphBuilder, bn: BatchNorm1d | BatchNorm2d, x: Value): Value {
  const { runningMean, runningVar, weight, bias } = bn
  if (!runningMean || !runningVar)
    throw new ValidationError(
      'A batch norm without running statistics cannot be exported: it normalises with the batch',
    )
  const c = bn.numFeatures
  const scale = weight ? g.weight('bn_scale', weight) : g.floats('bn_scale', Array(c).fill(1), [c])
  const shift = bias ? g.weight('bn_shift', bias) : g.floats('bn_shift', Array(c).fill(0), [c])
  const inputs = [
    x.name,
    scale,
    shift,
    g.weight('bn_mean', runningMean),
    g.weight('bn_var', runningVar),
  ]
  return { ...x, name: g.node('BatchNormalization', inputs, { epsilon: { float: bn.eps } }) }
}

export function relu(g: GraphBuilder, x: Value): Value {
  return { ...x, name: g.node('Relu', [x.name]) }
}

/** ReLU6 as Clip(0, 6) (pcam computes it as relu then clamp: the same numbers). */
export function relu6(g: GraphBuilder, x: Value): Value {
  const min = g.floats('zero', [0], [])
  const max = g.floats('six', [6], [])
  return { ...x, name: g.node('Clip', [x.name, min, max]) }
}

export function add(g: GraphBuilder, a: Value, b: Value): Value {
  return { ...a, name: g.node('Add', [a.name, b.name]) }
}

export function maxPool(g: GraphBuilder, pool: MaxPool2d, x: Value): Value {
  const [c, height, width] = featureMap(x, 'MaxPool2d')
  const { stride = pool.kernelSize, padding = 0, dilation = 1, ceilMode = false } = pool.options
  const [kh, kw] = pool.kernelSize
  const [sh, sw] = pair(stride, 'stride', 1)
  const [ph, pw] = pair(padding, 'padding', 0)
  const [dh, dw] = pair(dilation, 'dilation', 1)
  const name = g.node('MaxPool', [x.name], {
    kernel_shape: [kh, kw],
    strides: [sh, sw],
    pads: [ph, pw, ph, pw],
    dilations: [dh, dw],
    ceil_mode: ceilMode ? 1 : 0,
  })
  const round = ceilMode ? Math.ceil : Math.floor
  const out = (size: number, k: number, s: number, p: number, d: number) =>
    round((size + 2 * p - d * (k - 1) - 1) / s) + 1
  return { name, shape: [c, out(height, kh, sh, ph, dh), out(width, kw, sw, pw, dw)] }
}

function checkGlobal(pool: AdaptiveAvgPool2d | null): void {
  if (pool && (pool.outputSize[0] !== 1 || pool.outputSize[1] !== 1))
    throw new ValidationError(
      `Adaptive pooling to ${pool.outputSize.join('x')} has no ONNX counterpart here; only to 1x1`,
    )
}

/** Adaptive average pooling to 1x1: N x C x 1 x 1. */
export function globalAvgPool(g: GraphBuilder, x: Value, pool: AdaptiveAvgPool2d | null): Value {
  checkGlobal(pool)
  const [c] = featureMap(x, 'AdaptiveAvgPool2d')
  return { name: g.node('GlobalAveragePool', [x.name]), shape: [c, 1, 1] }
}

/** fastai's concat pooling: max then average, N x 2C x 1 x 1. */
export function concatPool(g: GraphBuilder, x: Value): Value {
  const [c] = featureMap(x, 'AdaptiveConcatPool2d')
  const max = g.node('GlobalMaxPool', [x.name])
  const avg = g.node('GlobalAveragePool', [x.name])
  return { name: g.node('Concat', [max, avg], { axis: 1 }), shape: [2 * c, 1, 1] }
}

export function flatten(g: GraphBuilder, x: Value): Value {
  const size = x.shape.reduce((a, b) => a * b, 1)
  return { name: g.node('Flatten', [x.name], { axis: 1 }), shape: [size] }
}

export function linear(g: GraphBuilder, fc: Linear, x: Value): Value {
  if (x.shape.length !== 1 || x.shape[0] !== fc.inFeatures)
    throw new ValidationError(`Linear(${fc.inFeatures}) receives features of shape [N, ${x.shape}]`)
  const inputs = [x.name, g.weight('fc_weight', fc.weight)]
  if (fc.bias) inputs.push(g.weight('fc_bias', fc.bias))
  return { name: g.node('Gemm', inputs, { transB: 1 }), shape: [fc.outFeatures] }
}

/**
 * Any layer that computes on its input alone, in eval mode (Sequential runs its children in
 * order; dropout is the identity). Layers with their own wiring (residual blocks) are emitted by
 * the architecture's exporter instead, and anything else is refused by name.
 */
export function layer(g: GraphBuilder, module: Module, x: Value): Value {
  if (module instanceof Sequential) {
    let out = x
    for (const child of module.children()) out = layer(g, child, out)
    return out
  }
  if (module instanceof Conv2d) return conv(g, module, x)
  if (module instanceof BatchNorm1d || module instanceof BatchNorm2d) return batchNorm(g, module, x)
  if (module instanceof ReLU) return relu(g, x)
  if (module instanceof ReLU6) return relu6(g, x)
  if (module instanceof MaxPool2d) return maxPool(g, module, x)
  if (module instanceof AdaptiveAvgPool2d) return globalAvgPool(g, x, module)
  if (module instanceof AdaptiveConcatPool2d) return concatPool(g, x)
  if (module instanceof Flatten) return flatten(g, x)
  if (module instanceof Linear) return linear(g, module, x)
  if (module instanceof Dropout) return x
  throw new ValidationError(
    `${module.constructor.name} has no ONNX exporter in pcam (layers that export: Conv2d, BatchNorm, ReLU, ReLU6, MaxPool2d, adaptive and concat pooling to 1x1, Flatten, Linear, Dropout)`,
  )
}
