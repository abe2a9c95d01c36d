/**
 * pcam bench memory: live tensors and resident memory over training, validation, prediction and
 * serving.
 * @module
 */
import { benchMemory, MEMORY_PHASES } from '../../bench/memory.js'
import { ARCHITECTURES } from '../../models/registry.js'
import { checkInteger } from '../../torch/index.js'
import type { Command } from '../command.js'
import { archOption, COMPUTE_OPTIONS, computeOptions } from '../shared-options.js'
import { MAX_BATCH_SIZE } from '../../data/loader.js'

export const benchMemoryCommand: Command = {
  name: 'bench memory',
  summary:
    'Live tensors and resident memory at the start and end of train, validate, predict and serve.',
  description:
    'Each phase runs once to warm up, then many times between two samples: a flat phase ends with\n' +
    'as many live tensors as it started with, and about the same resident memory.',
  options: {
    data: { type: 'string', default: 'runs/demo/store', description: 'Patch store' },
    arch: {
      type: 'string',
      default: 'small',
      description: `Architecture: ${ARCHITECTURES.join(', ')}`,
    },
    epochs: {
      type: 'number',
      default: 3,
      description: "Training epochs over the store's training split (the first warms up)",
    },
    repeats: {
      type: 'number',
      default: 20,
      description: 'Validation passes, predictions and rounds of 16 requests after the warm-up',
    },
    'batch-size': { type: 'number', default: 64, description: 'Patches per batch' },
    ...COMPUTE_OPTIONS,
    json: { type: 'boolean', description: 'Print one JSON object' },
  },
  async run(values) {
    const result = await benchMemory({
      store: values.data as string,
      arch: archOption(values),
      epochs: checkInteger(values.epochs, '--epochs', 2),
      repeats: checkInteger(values.repeats, '--repeats', 1),
      batchSize: checkInteger(values['batch-size'], '--batch-size', 2, MAX_BATCH_SIZE),
      compute: computeOptions(values),
      onPhase: (phase) => {
        if (values.json !== true) console.error(`${phase}...`)
      },
    })
    if (values.json === true) {
      console.log(JSON.stringify(result))
      return
    }
    console.log('phase      live tensors (start -> end)   resident MB (start -> end)')
    for (const phase of MEMORY_PHASES) {
      const live = `${result[`${phase}_live_tensors_start`]} -> ${result[`${phase}_live_tensors_end`]}`
      const rss = `${result[`${phase}_rss_start_mb`]} -> ${result[`${phase}_rss_end_mb`]}`
      console.log(`${phase.padEnd(10)} ${live.padEnd(30)} ${rss}`)
    }
  },
}
