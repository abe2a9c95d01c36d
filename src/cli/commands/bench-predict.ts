/**
 * pcam bench predict: patches/s of batch prediction, with and without TTA.
 * @module
 */
import { benchPredict } from '../../bench/predict.js'
import { checkInteger } from '../../torch/index.js'
import type { Command } from '../command.js'
import { COMPUTE_OPTIONS, computeOptions, RUN_FOLDER_OPTION } from '../shared-options.js'
import { MAX_BATCH_SIZE } from '../../data/loader.js'

export const benchPredictCommand: Command = {
  name: 'bench predict',
  summary:
    'Batch prediction patches/s of a trained run on a store, with and without 8-way TTA, on libtorch and ONNX Runtime side by side.',
  options: {
    model: RUN_FOLDER_OPTION,
    data: { type: 'string', default: 'runs/demo/store', description: 'Patch store' },
    patches: { type: 'number', default: 2048, description: 'Patches to predict' },
    'batch-size': { type: 'number', default: 128, description: 'Patches per batch' },
    json: { type: 'boolean', description: 'Print one JSON object' },
    ...COMPUTE_OPTIONS,
  },
  async run(values) {
    const result = await benchPredict({
      run: values.model as string,
      store: values.data as string,
      patches: checkInteger(values.patches, '--patches', 1),
      batchSize: checkInteger(values['batch-size'], '--batch-size', 1, MAX_BATCH_SIZE),
      ...computeOptions(values),
    })
    if (values.json === true) {
      console.log(JSON.stringify(result))
      return
    }
    console.log(`${result.patches} patches, batch ${result.batchSize}`)
    const cell = (v: number) => v.toFixed(0).padStart(11)
    console.log(`             ${'libtorch'.padStart(11)} ${'onnxruntime'.padStart(11)}`)
    const { libtorch_patches_s: l, onnxruntime_patches_s: o } = result
    console.log(`plain        ${cell(l.plain)} ${cell(o.plain)} patches/s`)
    console.log(`8-way TTA    ${cell(l.tta)} ${cell(o.tta)} patches/s`)
  },
}
