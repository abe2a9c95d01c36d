/**
 * Options that several commands take with the same meaning, defined once, and how their text is
 * read.
 * @module
 */
import { ttaFrom, type Tta } from '../data/tta.js'
import { ValidationError } from '../errors.js'
import { checkEngine, ENGINES, type Engine } from '../eval/predictor.js'
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
    description: `Inference engine: ${ENGINES.join(' or ')} (the run's model.onnx, exported once; Grad-CAM always runs on libtorch); default: the faster for the run's precision, libtorch for runs trained with --bf16, onnxruntime for float32 runs`,
  },
}

export function engineOption(values: OptionValues): Engine | undefined {
  return values.engine === undefined ? undefined : checkEngine(values.engine)
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
