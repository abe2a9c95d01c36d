/**
 * pcam export: a run's model as ONNX (for Python, inference services, ONNX Runtime anywhere) or as
 * a static web folder that predicts inside the browser.
 * @module
 */
import { exportOnnx, OPSET } from '../../export/export.js'
import { exportWeb } from '../../serve/web-bundle.js'
import { ValidationError } from '../../errors.js'
import type { Command } from '../command.js'
import { RUN_FOLDER_OPTION } from '../shared-options.js'

export const exportCommand: Command = {
  name: 'export',
  summary: 'A run as an ONNX file, or a static web folder that predicts in the browser.',
  description:
    'Examples:\n' +
    '  pcam export --model runs/mobilenet --format onnx --out mobilenet.onnx\n' +
    '  pcam export --model runs/mobilenet --format web --out site/   # serve with any static server',
  options: {
    model: RUN_FOLDER_OPTION,
    format: { type: 'string', default: 'onnx', description: 'onnx or web' },
    out: {
      type: 'string',
      required: true,
      value: 'file.onnx | folder',
      description: 'The .onnx file, or the folder for --format web',
    },
    overwrite: { type: 'boolean', description: 'Replace an existing web folder written by pcam' },
  },
  async run(values) {
    const [model, out] = [values.model as string, values.out as string]
    if (values.format === 'onnx') {
      const { bytes } = exportOnnx(model, out)
      console.log(`Wrote ${out} (${(bytes / 2 ** 20).toFixed(1)} MiB, ONNX opset ${OPSET})`)
    } else if (values.format === 'web') {
      const files = await exportWeb(model, out, {
        overwrite: values.overwrite === true,
      })
      console.log(
        `Wrote ${files.length} files to ${out}; serve the folder with any static file server`,
      )
    } else {
      throw new ValidationError(`Expected onnx or web for --format but received "${values.format}"`)
    }
  },
}
