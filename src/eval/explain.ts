/**
 * `pcam explain`: for each image, the model's probability and a picture of the patch beside its
 * Grad-CAM heatmap overlay (jet colours, half transparent).
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, extname, join } from 'node:path'
import sharp from 'sharp'
import { prepareBatch } from '../data/augment.js'
import { decodePatch } from '../data/decode.js'
import { DataError } from '../errors.js'
import type { PatchClassifier } from '../models/registry.js'
import { cat, noGrad, scope, tensor, type Tensor } from '../torch/index.js'
import { gradCam, overlayHeatmaps, type GradCamOptions } from './gradcam.js'
import { inputOptions, predictImages } from './predict.js'
import { loadRunModels } from '../run/load-run.js'
import type { RunConfig } from '../run/run-folder.js'
import type { ComputeRequest } from '../learn/precision.js'
import { predictionPlan } from './predictor.js'

/**
 * Patches (N x H x W x 3 uint8) overlaid with their Grad-CAM heatmaps, at the patches' own size:
 * the network sees them as the run prepares its input (resized to inputSize, normalised).
 * What explain, the top losses and the server draw. Of an ensemble's models, the mean of the
 * members' heatmaps (each scaled to [0, 1] first): where the members looked, on average.
 */
export function explainPatches(
  model: PatchClassifier | PatchClassifier[],
  config: RunConfig,
  patches: Tensor,
  options: Omit<GradCamOptions, 'output'> = {},
): Tensor {
  const models = Array.isArray(model) ? model : [model]
  return scope(() => {
    // Where the models are (a GPU, or the CPU): the heatmaps come back to draw on the patches.
    const device = (models[0] as PatchClassifier).device
    const input = device === 'cpu' ? patches : patches.to(device)
    const x = prepareBatch(input, { size: config.inputSize, normalization: config.normalization })
    let heat = gradCam(models[0] as PatchClassifier, x, options)
    for (const other of models.slice(1)) heat = heat.add(gradCam(other, x, options))
    if (device !== 'cpu') heat = heat.to('cpu')
    return overlayHeatmaps(patches, models.length === 1 ? heat : heat.div(models.length))
  })
}

/** What explainImages made of one image. */
export interface Explanation {
  /** Path of the image, as given. */
  image: string
  /** The model's probability of the positive class (an ensemble's: its members' mean). */
  probability: number
  /** Path of the PNG written: the patch beside its Grad-CAM overlay. */
  output: string
}

/**
 * `pcam explain`: for each image file, the run's probability and a PNG of the patch beside its
 * Grad-CAM overlay, written to `out` under the image's name.
 */
export async function explainImages(options: {
  /** Run folder (`--model`). */
  run: string
  /** Image files to explain. */
  images: string[]
  /** Folder for the PNGs (`--out`). */
  out: string
  /** Magnification of the PNGs, nearest-neighbour (default 2). */
  scale?: number
  /** Grad-CAM layer (default: the last convolutional block). */
  layer?: string
  /** Precision and device of the probability (and the device of Grad-CAM); default auto. */
  compute?: ComputeRequest
}): Promise<Explanation[]> {
  const { models, config } = loadRunModels(options.run)
  const plan = predictionPlan(config, options.compute)
  if (plan.device !== 'cpu') for (const m of models) m.to(plan.device)
  const predictOptions = { ...inputOptions(config), precision: plan.precision, device: plan.device }
  const scale = options.scale ?? 2
  mkdirSync(options.out, { recursive: true })
  const results: Explanation[] = []
  try {
    for (const image of options.images) {
      let decoded
      try {
        decoded = await decodePatch(readFileSync(image))
      } catch (error) {
        throw new DataError(`Cannot read ${image}: ${(error as Error).message.split('\n')[0]}`, {
          cause: error,
        })
      }
      const { height, width } = decoded
      const { probability, pixels } = scope(() => {
        const patch = tensor(new Uint8Array(decoded.pixels), { shape: [1, height, width, 3] })
        // An ensemble's probability is its members' mean, as openPredictor's.
        const each = models.map((m) => noGrad(() => predictImages(m, patch, predictOptions)))
        const p = each.reduce((sum, [q]) => sum + (q as number), 0) / each.length
        const overlay = explainPatches(models, config, patch, { layer: options.layer })
        const picture = cat([patch, overlay], 2).select(0, 0).contiguous()
        return { probability: p, pixels: picture.data() as Uint8Array }
      })
      const output = join(options.out, `${basename(image, extname(image))}.png`)
      const png = await sharp(pixels, { raw: { width: 2 * width, height, channels: 3 } })
        .resize(2 * width * scale, height * scale, { kernel: 'nearest' })
        .png()
        .toBuffer()
      writeFileSync(output, png)
      results.push({ image, probability, output })
    }
  } finally {
    for (const m of models) m.dispose()
  }
  return results
}
