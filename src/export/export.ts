/**
 * `pcam export --format onnx`: a run's model as one ONNX file that takes raw patches (uint8
 * N x P x P x 3, P the run's patch size, the batch dynamic) and gives class probabilities
 * (N x classes; for PCam's binary models [1 - p, p], in the order of the `classes` metadata).
 * The graph holds what pcam does before the network: scaling to [0, 1], bilinear resizing to the
 * input size when it differs from the patch size (torch's interpolate, align_corners=False, as
 * two MatMuls with its interpolation matrices), and the run's normalisation. Each architecture has an explicit exporter
 * that mirrors its forward() (residual wiring included); plain layers go through one emitter each.
 * An ensemble is one graph: the shared preprocessing feeds each member's network (its names
 * prefixed member_1/, ...), and a Mean node averages the members' probabilities.
 * @module
 */
import { existsSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ValidationError } from '../errors.js'
import { memberDirs } from '../run/ensemble.js'
import { loadRunModels, type LoadedRun } from '../run/load-run.js'
import { RUN_FILES, runMpp, runPatchSize, runThreshold, type RunConfig } from '../run/run-folder.js'
import { DepthwiseSeparable, type MobileNetV1 } from '../models/mobilenet-v1.js'
import { InvertedResidual, type MobileNetV2 } from '../models/mobilenet-v2.js'
import type { PatchClassifier } from '../models/registry.js'
import { BasicBlock, Bottleneck, type ResNet } from '../models/resnet.js'
import type { SmallCnn } from '../models/small.js'
import { interpolate, scope, tensor, type Tensor } from '../torch/index.js'
import { hasTorchvisionForm, torchvisionStateDict } from '../weights/torchvision.js'
import { PCAM_VERSION } from '../version.js'
import {
  add,
  batchNorm,
  conv,
  GraphBuilder,
  layer,
  maxPool,
  relu,
  relu6,
  type Value,
} from './onnx-graph.js'
import { DataType, encodeModel, type ModelMessage } from './onnx-proto.js'

/** ONNX opset (17: the newest Debian's python3-onnx checker knows) and IR version. */
export const OPSET = 17
export const IR_VERSION = 8
export const INPUT_NAME = 'images'
export const OUTPUT_NAME = 'probabilities'

function resnetBody(g: GraphBuilder, net: ResNet, x: Value): Value {
  let out = maxPool(g, net.maxpool, relu(g, batchNorm(g, net.bn1, conv(g, net.conv1, x))))
  for (const stage of net.layers) {
    for (const block of stage.children()) {
      if (!(block instanceof BasicBlock || block instanceof Bottleneck))
        throw new ValidationError(`Unexpected ResNet block ${block.constructor.name}`)
      const skip = block.downsample ? layer(g, block.downsample, out) : out
      let y = relu(g, batchNorm(g, block.bn1, conv(g, block.conv1, out)))
      if (block instanceof Bottleneck) {
        y = relu(g, batchNorm(g, block.bn2, conv(g, block.conv2, y)))
        y = batchNorm(g, block.bn3, conv(g, block.conv3, y))
      } else {
        y = batchNorm(g, block.bn2, conv(g, block.conv2, y))
      }
      out = relu(g, add(g, y, skip))
    }
  }
  return out
}

function mobilenetV1Body(g: GraphBuilder, net: MobileNetV1, x: Value): Value {
  let out = layer(g, net.stem, x)
  for (const block of net.features.children()) {
    if (!(block instanceof DepthwiseSeparable))
      throw new ValidationError(`Unexpected MobileNet v1 block ${block.constructor.name}`)
    out = relu6(g, batchNorm(g, block.dwBn, conv(g, block.dw, out)))
    out = relu6(g, batchNorm(g, block.pwBn, conv(g, block.pw, out)))
  }
  return out
}

function mobilenetV2Body(g: GraphBuilder, net: MobileNetV2, x: Value): Value {
  let out = x
  for (const block of net.features.children()) {
    if (block instanceof InvertedResidual) {
      const y = layer(g, block.conv, out)
      out = block.useResidual ? add(g, out, y) : y
    } else {
      out = layer(g, block, out)
    }
  }
  return out
}

function body(g: GraphBuilder, model: PatchClassifier, x: Value): Value {
  switch (model.spec.arch) {
    case 'small':
      return layer(g, (model.body as SmallCnn).features, x)
    case 'resnet18':
    case 'resnet34':
    case 'resnet50':
      return resnetBody(g, model.body as ResNet, x)
    case 'mobilenet_v1':
      return mobilenetV1Body(g, model.body as unknown as MobileNetV1, x)
    case 'mobilenet_v2':
      return mobilenetV2Body(g, model.body as unknown as MobileNetV2, x)
  }
}

/** uint8 N x P x P x 3 → the network's normalised float N x 3 x S x S. */
function preprocess(g: GraphBuilder, config: RunConfig): Value {
  const patch = runPatchSize(config)
  const size = config.inputSize
  const { mean, std } = config.normalization
  const floats = g.node('Cast', [INPUT_NAME], { to: DataType.FLOAT })
  const nchw = g.node('Transpose', [floats], { perm: [0, 3, 1, 2] })
  let x = g.node('Mul', [nchw, g.floats('inv255', [1 / 255], [])])
  if (patch !== size) {
    // torch's bilinear interpolate is separable: rows then columns, each a P -> S matrix with two
    // weights a row. The matrices come from torch itself (interpolating the identity), so the
    // graph's sample positions are torch's to the bit (ONNX Runtime's Resize rounds them
    // differently: 7e-6 apart at 96 -> 112).
    const identity = new Float32Array(patch * patch).map((_, i) => (i % (patch + 1) === 0 ? 1 : 0))
    const matrix = interpolate(tensor(identity, { shape: [1, 1, patch, patch] }), [size, patch], {
      mode: 'bilinear',
    })
      .reshape(size, patch)
      .contiguous()
    const rows = g.weight('resize_rows', matrix)
    const columns = g.weight('resize_columns', matrix.transpose(0, 1).contiguous())
    x = g.node('MatMul', [g.node('MatMul', [rows, x]), columns])
  }
  const scale = g.floats(
    'norm_scale',
    std.map((s) => 1 / s),
    [1, 3, 1, 1],
  )
  const shift = g.floats(
    'norm_shift',
    mean.map((m, c) => -m / (std[c] as number)),
    [1, 3, 1, 1],
  )
  x = g.node('Add', [g.node('Mul', [x, scale]), shift])
  return { name: x, shape: [3, size, size] }
}

/** Logits to probabilities: binary models' one logit to [1 - p, p], else a softmax. */
function probabilities(g: GraphBuilder, logits: Value, classes: number, output: string): string {
  if (logits.shape[0] === 1) {
    const p = g.node('Sigmoid', [logits.name])
    const q = g.node('Sub', [g.floats('one', [1], []), p])
    return g.node('Concat', [q, p], { axis: 1 }, output)
  }
  if (logits.shape[0] !== classes)
    throw new ValidationError(`The model gives ${logits.shape[0]} outputs for ${classes} classes`)
  return g.node('Softmax', [logits.name], { axis: 1 }, output)
}

/** What the exported file says about itself (metadata_props). */
export function onnxMetadata(config: RunConfig): Record<string, string> {
  return {
    classes: JSON.stringify(config.classes),
    threshold: String(runThreshold(config)),
    normalization: JSON.stringify(config.normalization),
    input_size: String(config.inputSize),
    patch_size: String(runPatchSize(config)),
    um_per_px: String(runMpp(config) ?? 'unknown'),
    architecture: config.model.arch,
    head: config.model.head,
    output: `${OUTPUT_NAME}: N x ${config.classes.length}, columns in the order of classes`,
    pcam_version: PCAM_VERSION,
    ...(config.ensemble ? { ensemble_members: String(config.ensemble.members.length) } : {}),
  }
}

/**
 * The ONNX model of a loaded run (in eval mode), as bytes; of several models (an ensemble's
 * members, which share the run's preprocessing), one graph that averages their probabilities.
 */
export function onnxModel(
  model: PatchClassifier | PatchClassifier[],
  config: RunConfig,
): Uint8Array {
  const models = Array.isArray(model) ? model : [model]
  // The graph's tensors (float copies of weights, the resize matrices) are freed on return.
  return scope(() => encodeModel(graphMessage(models, config)))
}

/**
 * Each weight's name in the file: torchvision's where the model has that form (the initializers
 * then load into torchvision.models.<arch> by name), else pcam's state-dict name.
 */
function weightNames(model: PatchClassifier): Map<Tensor, string> {
  const names = hasTorchvisionForm(model.spec) ? torchvisionStateDict(model) : model.stateDict()
  return new Map([...names].map(([name, tensor]) => [tensor, name]))
}

/** The networks' class probabilities, each member's names prefixed, averaged by a Mean node. */
function networks(g: GraphBuilder, models: PatchClassifier[], x: Value, classes: number): void {
  if (models.length === 1) {
    const model = models[0] as PatchClassifier
    g.weightNames = weightNames(model)
    probabilities(g, layer(g, model.head, body(g, model, x)), classes, OUTPUT_NAME)
    return
  }
  const outputs = models.map((model, i) => {
    g.namespace = `member_${i + 1}/`
    g.weightNames = weightNames(model)
    const logits = layer(g, model.head, body(g, model, x))
    return probabilities(g, logits, classes, g.name('probabilities'))
  })
  g.namespace = ''
  g.node('Mean', outputs, {}, OUTPUT_NAME)
}

/** The model as an ONNX message; the tensors it makes on the way belong to the caller's scope. */
function graphMessage(models: PatchClassifier[], config: RunConfig): ModelMessage {
  const g = new GraphBuilder()
  const x = preprocess(g, config)
  const classes = config.classes.length
  networks(g, models, x, classes)
  const patch = runPatchSize(config)
  const what =
    models.length === 1
      ? `pcam ${config.model.arch}`
      : `pcam ensemble of ${models.length} ${config.model.arch}`
  return {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'pcam',
    producerVersion: PCAM_VERSION,
    docString: `${what} (${config.model.head} head): raw uint8 patches in, class probabilities out`,
    graph: {
      name: `pcam_${config.model.arch}`,
      node: g.nodes,
      initializer: g.initializers,
      input: [
        {
          name: INPUT_NAME,
          type: {
            tensorType: {
              elemType: DataType.UINT8,
              shape: {
                dim: [{ dimParam: 'N' }, { dimValue: patch }, { dimValue: patch }, { dimValue: 3 }],
              },
            },
          },
        },
      ],
      output: [
        {
          name: OUTPUT_NAME,
          type: {
            tensorType: {
              elemType: DataType.FLOAT,
              shape: { dim: [{ dimParam: 'N' }, { dimValue: classes === 1 ? 2 : classes }] },
            },
          },
        },
      ],
    },
    metadataProps: Object.entries(onnxMetadata(config)).map(([key, value]) => ({ key, value })),
  }
}

export type { LoadedRun }

/**
 * Writes a run's model (an ensemble's: its one averaging graph) to `out` as ONNX (through a
 * temporary name, so no half file is left); from `loaded` when given (the caller keeps its
 * models), else loaded from the run folder for the export alone.
 */
export function exportOnnx(
  run: string,
  out: string,
  loaded?: LoadedRun,
): {
  /** Size of the written ONNX file, in bytes. */
  bytes: number
  /** The run's config.json, as the export read it. */
  config: RunConfig
} {
  const { models, config } = loaded ?? loadRunModels(run)
  try {
    let bytes: Uint8Array
    try {
      bytes = onnxModel(models, config)
    } catch (error) {
      throw new ValidationError(
        `The model of ${run} cannot be expressed in ONNX: ${(error as Error).message}`,
        { cause: error },
      )
    }
    const partial = `${out}.partial`
    writeFileSync(partial, bytes)
    renameSync(partial, out)
    return { bytes: bytes.length, config }
  } finally {
    if (!loaded) for (const model of models) model.dispose()
  }
}

/** Where a run keeps its exported model. */
export function runOnnxPath(run: string): string {
  return join(run, 'model.onnx')
}

/**
 * What a run's model.onnx is made from: its model.safetensors; an ensemble's, its members' and
 * its config.json (whose threshold the file's metadata carries).
 */
function onnxSources(run: string): string[] {
  const members = existsSync(join(run, RUN_FILES.config)) ? memberDirs(run) : []
  if (members.length === 0) return [join(run, RUN_FILES.model)]
  return [...members.map((m) => join(m, RUN_FILES.model)), join(run, RUN_FILES.config)]
}

/**
 * The run's model.onnx, exported once and reused; exported again when model.safetensors is
 * newer (the run trained further). `loaded`: the run's model already in memory, exported
 * instead of loading the run a second time.
 */
export function ensureRunOnnx(run: string, loaded?: LoadedRun): string {
  const path = runOnnxPath(run)
  const sources = onnxSources(run)
  if (existsSync(path) && sources.every((s) => existsSync(s))) {
    const made = statSync(path).mtimeMs
    if (sources.every((s) => made >= statSync(s).mtimeMs)) return path
  }
  exportOnnx(run, path, loaded)
  return path
}
