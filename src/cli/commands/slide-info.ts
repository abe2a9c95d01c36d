/**
 * pcam slide info: a slide's vendor, levels, resolution and objective power.
 * @module
 */
import { ValidationError } from '../../errors.js'
import { slideInfo } from '../../slide/batch.js'
import type { Command } from '../command.js'

export const slideInfoCommand: Command = {
  name: 'slide info',
  args: '<slide>',
  summary: 'Vendor, levels (width, height, downsample), µm/px and objective power of a slide.',
  options: {
    json: { type: 'boolean', description: 'Print as JSON (with every property)' },
  },
  async run(values, positionals) {
    if (positionals.length !== 1)
      throw new ValidationError('Give one slide: pcam slide info <slide> [--json]')
    const info = await slideInfo(positionals[0] as string)
    if (values.json === true) {
      console.log(JSON.stringify(info, null, 2))
      return
    }
    console.log(`Slide: ${info.slide}`)
    console.log(`Vendor: ${info.vendor ?? 'unknown'}`)
    console.log(
      `Resolution: ${info.mpp ? `${info.mpp.x} x ${info.mpp.y} µm/px (${info.mpp.from})` : 'not recorded (pass --slide-mpp to slide predict)'}`,
    )
    console.log(`Objective power: ${info.objectivePower ?? 'not recorded'}`)
    console.log('Levels:')
    info.levels.forEach((l, i) =>
      console.log(
        `  ${i}: ${l.width} x ${l.height} (downsample ${Number(l.downsample.toFixed(4))})`,
      ),
    )
    if (info.associatedImages.length > 0)
      console.log(
        `Associated images: ${info.associatedImages.map((a) => `${a.name} ${a.width} x ${a.height}`).join(', ')}`,
      )
  },
}
