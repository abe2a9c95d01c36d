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
import { cat, noGrad, scope, tensor } from '../torch/index.js'
import { gradCam, overlayHeatmaps } from './gradcam.js'
import { loadRun } from './predict.js'

export interface Explanation {
  image: string
  probability: number
  output: string
}

export async function explainImages(options: {
  run: string
  images: string[]
  out: string
  scale?: number
  /** Grad-CAM layer (default: the last convolutional block). */
  layer?: string
}): Promise<Explanation[]> {
  const { model, config } = loadRun(options.run)
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
      const patch = tensor(new Uint8Array(decoded.pixels), { shape: [1, height, width, 3] })
      const x = prepareBatch(patch, { size: config.inputSize, normalization: config.normalization })
      const probability = noGrad(() => scope(() => model.forward(x).sigmoid().item()))
      const picture = scope(() => {
        // The network may see a resized patch (--size); the heatmap goes back to the patch's size.
        const heat = gradCam(model, x, { layer: options.layer })
        const overlay = overlayHeatmaps(patch, heat)
        return cat([patch, overlay], 2).select(0, 0).contiguous()
      })
      const output = join(options.out, `${basename(image, extname(image))}.png`)
      const png = await sharp(picture.data() as Uint8Array, {
        raw: { width: 2 * width, height, channels: 3 },
      })
        .resize(2 * width * scale, height * scale, { kernel: 'nearest' })
        .png()
        .toBuffer()
      writeFileSync(output, png)
      for (const t of [patch, x, picture]) t.dispose()
      results.push({ image, probability, output })
    }
  } finally {
    model.dispose()
  }
  return results
}
