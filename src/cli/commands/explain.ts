/**
 * pcam explain: probability and Grad-CAM overlay for each image.
 * @module
 */
import { explainImages } from '../../eval/explain.js'
import { ValidationError } from '../../errors.js'
import type { Command } from '../command.js'
import { COMPUTE_OPTIONS, computeOptions, RUN_FOLDER_OPTION } from '../shared-options.js'

export const explainCommand: Command = {
  name: 'explain',
  args: '<image...>',
  summary:
    'Probability and a Grad-CAM heatmap overlay (PNG) for each image: where the model looked.',
  description:
    'Example: pcam explain --model runs/mobilenet_v1 patch1.tif patch2.png --out explained/',
  options: {
    model: RUN_FOLDER_OPTION,
    out: {
      type: 'string',
      default: 'explained',
      description: 'Folder for the PNGs (patch | overlay)',
    },
    layer: {
      type: 'string',
      description:
        'Grad-CAM layer by its parameter-name prefix, e.g. layer3 (ResNet) or features.9 (MobileNet); default: the last block',
    },
    ...COMPUTE_OPTIONS,
    json: { type: 'boolean', description: 'Print the results as JSON' },
  },
  async run(values, positionals) {
    if (positionals.length === 0)
      throw new ValidationError('Give one or more images: pcam explain --model <run> <image...>')
    const results = await explainImages({
      run: values.model as string,
      images: positionals,
      out: values.out as string,
      layer: values.layer as string | undefined,
      compute: computeOptions(values),
    })
    if (values.json === true) {
      console.log(JSON.stringify(results))
      return
    }
    for (const r of results) console.log(`${r.probability.toFixed(4)}  ${r.image} -> ${r.output}`)
  },
}
