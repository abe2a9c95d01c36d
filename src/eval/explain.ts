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
import { cat, interpolate, noGrad, scope, tensor, type Tensor } from '../torch/index.js'
import { gradCam } from './gradcam.js'
import { loadRun } from './predict.js'

export interface Explanation {
  image: string
  probability: number
  output: string
}

/** Jet colours of a heatmap (H x W in [0, 1]) as H x W x 3 floats in [0, 1]. */
export function jet(heat: Tensor): Tensor {
  return scope(() => {
    const channel = (centre: number) => heat.mul(4).sub(centre).abs().neg().add(1.5).clamp(0, 1)
    return cat(
      [channel(3), channel(2), channel(1)].map((c) => c.unsqueeze(2)),
      2,
    )
  })
}

export async function explainImages(options: {
  run: string
  images: string[]
  out: string
  scale?: number
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
        const heat = interpolate(gradCam(model, x).unsqueeze(1), [height, width], {
          mode: 'bilinear',
        })
        const colours = jet(heat.select(0, 0).select(0, 0).clamp(0, 1))
        const original = patch.select(0, 0).float().div(255)
        const overlay = original.mul(0.5).add(colours.mul(0.5))
        return cat([original, overlay], 1).mul(255).round().clamp(0, 255).to('uint8').contiguous()
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
