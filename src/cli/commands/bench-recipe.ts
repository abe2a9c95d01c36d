/**
 * pcam bench recipe: a whole training recipe in pcam and in plain PyTorch, back to back.
 * @module
 */
import { benchRecipe, type SideFigures } from '../../bench/recipe.js'
import { RECIPE_PRESETS } from '../../recipe/presets.js'
import type { Command } from '../command.js'
import { withInterrupt } from '../progress.js'
import { COMPUTE_OPTIONS, computeOptions } from '../shared-options.js'

function describe(name: string, side: SideFigures): string[] {
  const lines = [`${name.padEnd(8)} ${side.seconds.toFixed(0).padStart(6)} s in all`]
  for (const e of side.epochs)
    lines.push(
      `  ${`${e.stage} ${e.epoch}`.padEnd(12)} train ${e.trainSeconds.toFixed(1).padStart(6)} s ` +
        `${e.imagesPerSec.toFixed(0).padStart(5)} img/s  valid ${e.validSeconds.toFixed(1).padStart(5)} s  AUC ${e.auc.toFixed(4)}`,
    )
  lines.push(
    `  last/first epoch images/s ${side.lastOverFirst.toFixed(3)}` +
      (side.peakRssMb === null ? '' : `, peak memory ${side.peakRssMb} MiB`),
  )
  return lines
}

export const benchRecipeCommand: Command = {
  name: 'bench recipe',
  summary: 'A whole training recipe in pcam and in a plain PyTorch script, back to back.',
  description:
    'Runs "pcam train --recipe <name>" and bench/recipe_torch.py (the same recipe, data,\n' +
    'augmentation, initial weights, threads and precision in plain PyTorch) one after the other,\n' +
    "and reports wall time, each epoch's training images/s and validation seconds, and peak\n" +
    'memory. Run it on an idle machine: anything else running changes both figures.',
  options: {
    data: {
      type: 'string',
      default: 'runs/demo/store',
      description: 'Patch store (make demo writes runs/demo/store)',
    },
    recipe: {
      type: 'string',
      default: 'fast',
      description: `Preset to run: ${Object.keys(RECIPE_PRESETS).join(', ')}`,
    },
    pairs: {
      type: 'number',
      default: 1,
      description:
        'Pairs of runs; from 2 on, who goes first alternates (pcam first, then PyTorch first, ...) and the figures are means over the pairs',
    },
    'pcam-only': { type: 'boolean', description: 'Skip PyTorch' },
    ...COMPUTE_OPTIONS,
    json: {
      type: 'boolean',
      description:
        "Print one JSON object (pcam_seconds, torch_seconds: means over the pairs; ratio = PyTorch seconds / pcam seconds; pairs: each pair's order, seconds, epoch images/s and last/first; pcam, torch: the first pair per epoch and stage)",
    },
  },
  async run(values) {
    const result = await withInterrupt((signal) =>
      benchRecipe({
        store: values.data as string,
        recipe: values.recipe as string,
        pcamOnly: values['pcam-only'] === true,
        pairs: values.pairs as number,
        ...computeOptions(values),
        signal,
        onProgress: (message) => process.stderr.write(`${message}\n`),
      }),
    )
    if (values.json === true) {
      console.log(JSON.stringify(result))
      return
    }
    console.log(
      `recipe ${result.recipe}, ${result.precision} on ${result.device}, ${result.threads} thread(s)`,
    )
    for (const line of describe('pcam', result.pcam)) console.log(line)
    if (result.torch) for (const line of describe('PyTorch', result.torch)) console.log(line)
    if (result.pairs.length > 1) {
      console.log('(epochs: the first pair)')
      result.pairs.forEach((p, i) =>
        console.log(
          `pair ${i + 1}, ${p.order.join(' then ')}: pcam ${p.pcam_seconds.toFixed(0)} s ` +
            `(last/first epoch ${p.pcam_last_over_first.toFixed(3)})` +
            (p.torch_seconds === null
              ? ''
              : `, PyTorch ${p.torch_seconds.toFixed(0)} s (${(p.torch_last_over_first as number).toFixed(3)})`),
        ),
      )
    }
    if (result.torch) {
      const of = result.pairs.length > 1 ? `, means over ${result.pairs.length} pairs` : ''
      console.log(`ratio (PyTorch seconds / pcam seconds${of}) ${result.ratio?.toFixed(2)}`)
    }
  },
}
