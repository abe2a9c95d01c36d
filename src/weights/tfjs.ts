/**
 * Imports TensorFlow.js "layers" models (a Keras topology in model.json plus binary weight shards)
 * into pcam modules. Keras stores convolution kernels as [kh, kw, in, out] and depthwise kernels
 * as [kh, kw, in, multiplier]; PyTorch wants [out, in, kh, kw] and [in * multiplier, 1, kh, kw].
 * @module
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { DataError } from '../errors.js'
import { MobileNetV1 } from '../models/mobilenet-v1.js'
import { noGrad, scope, tensor, type Tensor } from '../torch/index.js'

interface KerasLayer {
  class_name: string
  config: { name: string; epsilon?: number; [key: string]: unknown }
}

export interface TfjsModel {
  layers: KerasLayer[]
  /** Weights by Keras name ("conv1/kernel"), in Keras layout. */
  weights: Map<string, { shape: number[]; data: Float32Array }>
}

export function readTfjsModel(dir: string): TfjsModel {
  const modelPath = join(dir, 'model.json')
  if (!existsSync(modelPath))
    throw new DataError(`${modelPath} not found: expected a TensorFlow.js layers model folder.`)
  const model = JSON.parse(readFileSync(modelPath, 'utf8')) as {
    modelTopology?: { model_config?: { config?: { layers?: KerasLayer[] } } }
    weightsManifest?: {
      paths: string[]
      weights: { name: string; shape: number[]; dtype: string }[]
    }[]
  }
  const layers = model.modelTopology?.model_config?.config?.layers
  if (!layers || !model.weightsManifest)
    throw new DataError(`${modelPath} is not a TF.js layers model (no topology or manifest).`)
  const weights = new Map<string, { shape: number[]; data: Float32Array }>()
  for (const group of model.weightsManifest) {
    const bytes = Buffer.concat(group.paths.map((p) => readFileSync(join(dir, p))))
    let offset = 0
    for (const w of group.weights) {
      if (w.dtype !== 'float32')
        throw new DataError(
          `${w.name} in ${modelPath} is ${w.dtype}; only float32 weights are supported.`,
        )
      const count = w.shape.reduce((a, b) => a * b, 1)
      const copy = new Float32Array(count)
      new Uint8Array(copy.buffer).set(bytes.subarray(offset, offset + count * 4))
      weights.set(w.name, { shape: w.shape, data: copy })
      offset += count * 4
    }
    if (offset !== bytes.length)
      throw new DataError(
        `${modelPath}: shards of ${group.paths.join(', ')} hold ${bytes.length} bytes, the manifest ${offset}.`,
      )
  }
  return { layers, weights }
}

function kerasTensor(model: TfjsModel, name: string): Tensor {
  const w = model.weights.get(name)
  if (!w) throw new DataError(`The TF.js model has no weight "${name}".`)
  return tensor(w.data, { shape: w.shape })
}

/** Keras kernel → PyTorch weight layout. */
function convWeight(model: TfjsModel, name: string, depthwise: boolean): Tensor {
  return scope(() => {
    const kernel = kerasTensor(model, name)
    return (depthwise ? kernel.permute(2, 3, 0, 1) : kernel.permute(3, 2, 0, 1)).contiguous()
  })
}

/**
 * The Keras MobileNet (v1) in a TF.js folder as a pcam MobileNetV1 with its weights; the width
 * multiplier, class count and batch-norm epsilon are read from the files.
 */
export function mobilenetV1FromTfjs(dir: string): MobileNetV1 {
  const model = readTfjsModel(dir)
  const stemChannels = model.weights.get('conv1/kernel')?.shape[3]
  const classes = model.weights.get('conv_preds/bias')?.shape[0]
  if (!stemChannels || !classes)
    throw new DataError(
      `${dir} does not hold a Keras MobileNet (no conv1/kernel or conv_preds/bias).`,
    )
  const eps =
    model.layers.find((l) => l.class_name === 'BatchNormalization')?.config.epsilon ?? 1e-3
  const net = new MobileNetV1(classes, { alpha: stemChannels / 32, eps })
  const state = new Map<string, Tensor>()
  const batchNorm = (keras: string, torch: string) => {
    for (const [from, to] of [
      ['gamma', 'weight'],
      ['beta', 'bias'],
      ['moving_mean', 'running_mean'],
      ['moving_variance', 'running_var'],
    ]) {
      state.set(`${torch}.${to}`, kerasTensor(model, `${keras}/${from}`))
    }
  }
  state.set('stem.0.weight', convWeight(model, 'conv1/kernel', false))
  batchNorm('conv1_bn', 'stem.1')
  for (let i = 1; i <= 13; i++) {
    const block = `features.${i - 1}`
    state.set(`${block}.dw.weight`, convWeight(model, `conv_dw_${i}/depthwise_kernel`, true))
    batchNorm(`conv_dw_${i}_bn`, `${block}.dw_bn`)
    state.set(`${block}.pw.weight`, convWeight(model, `conv_pw_${i}/kernel`, false))
    batchNorm(`conv_pw_${i}_bn`, `${block}.pw_bn`)
  }
  const preds = scope(() => convWeight(model, 'conv_preds/kernel', false).flatten(1))
  state.set('classifier.1.weight', preds)
  state.set('classifier.1.bias', kerasTensor(model, 'conv_preds/bias'))
  // Keras keeps no batch counter; every other tensor must be present.
  const { missing, unexpected } = noGrad(() => net.loadStateDict(state, { strict: false }))
  for (const t of state.values()) t.dispose()
  const absent = [...missing.filter((k) => !k.endsWith('num_batches_tracked')), ...unexpected]
  if (absent.length > 0)
    throw new DataError(`The TF.js MobileNet did not fill: ${absent.join(', ')}`)
  net.eval()
  return net
}
