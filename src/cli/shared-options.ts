/**
 * Options that several commands take with the same meaning, defined once, and how their text is
 * read.
 * @module
 */
import { ttaFrom, type Tta } from '../data/tta.js'
import { ValidationError } from '../errors.js'
import { checkEngine, ENGINES, type Engine } from '../eval/predictor.js'
import {
  checkDeviceRequest,
  checkPrecision,
  resolveDevice,
  type ComputeRequest,
} from '../learn/precision.js'
import { ARCHITECTURES, type Architecture } from '../models/registry.js'
import { SERVE_DEFAULTS } from '../serve/server.js'
import { checkInteger, checkNumber } from '../torch/index.js'
import type { Command, OptionSpec, OptionValues } from './command.js'

/** --model: the run folder (eval, predict, explain, export, serve and the benchmarks of a run). */
export const RUN_FOLDER_OPTION: OptionSpec = {
  type: 'string',
  required: true,
  value: 'run folder',
  description: 'Run folder from "pcam train"',
}

/** --tta and --tta-views (eval, predict, serve). */
export const TTA_OPTIONS: Command['options'] = {
  tta: { type: 'boolean', description: 'Average over the 8 symmetries of each patch' },
  'tta-views': {
    type: 'string',
    description:
      'Average over these symmetries only, e.g. 0,2,4,6 (0-3: quarter turns; 4-7: the same after a flip)',
  },
}

export function ttaOption(values: OptionValues): Tta {
  return ttaFrom(values.tta === true, values['tta-views'] as string | undefined)
}

/** --max-batch and --max-wait-ms (serve, bench serve). */
export const BATCHING_OPTIONS: Command['options'] = {
  'max-batch': {
    type: 'number',
    default: SERVE_DEFAULTS.maxBatch,
    description: 'Most images per model batch',
  },
  'max-wait-ms': {
    type: 'number',
    default: SERVE_DEFAULTS.maxWaitMs,
    description: 'How long the first image of a batch waits for others',
  },
}

/** "1,8,64" as positive integers, or a message naming the option. */
export function integerList(value: unknown, name: string): number[] {
  return String(value)
    .split(',')
    .map((item) => checkInteger(Number(item), name, 1))
}

/** --engine (predict, eval, serve, slide predict). */
export const ENGINE_OPTIONS: Command['options'] = {
  engine: {
    type: 'string',
    description: `Inference engine: ${ENGINES.join(' or ')} (the run's model.onnx, exported once; Grad-CAM always runs on libtorch); default: the faster for the precision predicted in, libtorch for bf16, fp16 and GPUs, onnxruntime for fp32 on a CPU`,
  },
}

export function engineOption(values: OptionValues): Engine | undefined {
  return values.engine === undefined ? undefined : checkEngine(values.engine)
}

/** --precision, --bf16 and --device: every command that runs a network. */
export const COMPUTE_OPTIONS: Command['options'] = {
  precision: {
    type: 'string',
    value: 'auto|fp32|bf16|fp16',
    description:
      'Compute precision. auto (default): on a CPU, bf16 where it has bf16 units (AVX512-BF16 or AMX-BF16) and fp32 elsewhere (bf16 is emulated there, ~20x slower); on a GPU, bf16 from compute capability 8.0, else fp16 with loss scaling. Prediction with auto keeps a run trained in fp32 in fp32',
  },
  bf16: { type: 'boolean', description: 'The same as --precision bf16' },
  device: {
    type: 'string',
    value: 'auto|cpu|cuda|cuda:N',
    description:
      'Where the network runs. auto (default): the first GPU when libtorch has CUDA and one is visible, else the CPU',
  },
}

/** The precision and device asked for on the command line (undefined: not given). */
export function computeOptions(values: OptionValues): ComputeRequest {
  const precision = values.precision === undefined ? undefined : checkPrecision(values.precision)
  if (values.bf16 === true && precision !== undefined && precision !== 'bf16')
    throw new ValidationError(
      `--bf16 is --precision bf16, but --precision ${precision} was given too; keep one`,
    )
  const device = values.device === undefined ? undefined : checkDeviceRequest(values.device)
  // A GPU this machine lacks is named before any data or model is read.
  if (device !== undefined) resolveDevice(device)
  return { precision: values.bf16 === true ? 'bf16' : precision, device }
}

/** --model-mpp (slide predict, bench slide). */
export const MODEL_MPP_OPTION: OptionSpec = {
  type: 'number',
  description: "µm/px of the run's patches if it records none (PCam and Kaggle patches: 0.972)",
}

export function modelMppOption(values: OptionValues): number | undefined {
  return values['model-mpp'] === undefined
    ? undefined
    : checkNumber(values['model-mpp'], '--model-mpp', 0.01, 100)
}

/** --arch as one of the registered architectures (train, bench memory). */
export function archOption(values: OptionValues): Architecture {
  const arch = values.arch as Architecture
  if (!(ARCHITECTURES as readonly string[]).includes(arch))
    throw new ValidationError(`Unknown --arch "${arch}"; choose one of ${ARCHITECTURES.join(', ')}`)
  return arch
}
