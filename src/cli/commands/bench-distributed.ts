/**
 * pcam bench distributed: data-parallel training speed with 1 and 2 ranks, and the all-reduce
 * time per step. Run as a rank by the launcher, it measures and prints one JSON line.
 * @module
 */
import { benchDistributed, measureRank } from '../../bench/distributed.js'
import { rankFromEnvironment } from '../../learn/launcher.js'
import { checkInteger } from '../../torch/index.js'
import type { Command } from '../command.js'
import { checkPrecision } from '../../learn/precision.js'
import { integerList } from '../shared-options.js'
import { MAX_BATCH_SIZE } from '../../data/loader.js'

export const benchDistributedCommand: Command = {
  name: 'bench distributed',
  summary:
    'Images/s of data-parallel training with 1 and 2 ranks (one thread each), all-reduce time.',
  description:
    'Trains the reference network (docs/performance.md) on random batches: each rank one libtorch thread,\n' +
    "gradients averaged over Gloo on loopback. Scaling = images/s / (ranks x one rank's).",
  options: {
    ranks: { type: 'string', default: '1,2', description: 'Rank counts to measure' },
    'batch-size': { type: 'number', default: 64, description: 'Images per rank per step' },
    size: { type: 'number', default: 96, description: 'Image side' },
    warmup: { type: 'number', default: 3, description: 'Untimed steps' },
    steps: { type: 'number', default: 20, description: 'Timed steps' },
    precision: {
      type: 'string',
      value: 'auto|fp32|bf16',
      description:
        'Precision every rank trains in (autocast). auto (default): bf16 where the CPU has bf16 units, else fp32. The ranks compute on the CPU (Gloo); GPUs need NCCL, not bound yet',
    },
    json: { type: 'boolean', description: 'Print one JSON object' },
  },
  async run(values) {
    const common = {
      batchSize: checkInteger(values['batch-size'], '--batch-size', 1, MAX_BATCH_SIZE),
      size: checkInteger(values.size, '--size', 8),
      warmup: checkInteger(values.warmup, '--warmup', 0),
      steps: checkInteger(values.steps, '--steps', 1),
      precision: checkPrecision(values.precision ?? 'auto'),
    }
    if (rankFromEnvironment()) {
      console.log(JSON.stringify(measureRank(common)))
      return
    }
    const ranks = integerList(values.ranks, '--ranks')
    const json = values.json === true
    const levels = await benchDistributed({ ...common, ranks }, (l) => {
      if (json) return
      if (l.ranks === ranks[0]) {
        console.log(`${l.precision} on the CPU, Gloo`)
        console.log('ranks   images/s   step ms   all-reduce ms/step   scaling')
      }
      console.log(
        `${String(l.ranks).padStart(5)} ${l.imagesPerSec.toFixed(1).padStart(10)} ` +
          `${l.stepMs.toFixed(1).padStart(9)} ${l.allReduceMsPerStep.toFixed(2).padStart(20)} ` +
          `${(l.efficiency * 100).toFixed(0).padStart(8)}%`,
      )
    })
    if (json) console.log(JSON.stringify(levels))
  },
}
