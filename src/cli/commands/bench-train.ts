/**
 * pcam bench train: training images/s of one architecture on a real store, next to PyTorch.
 * @module
 */
import { benchTrain, TRAIN_BENCH_ARCHS, type TrainBenchArch } from '../../bench/train.js'
import { checkInteger } from '../../torch/index.js'
import type { Command } from '../command.js'
import { COMPUTE_OPTIONS, computeOptions } from '../shared-options.js'
import { MAX_BATCH_SIZE } from '../../data/loader.js'

export const benchTrainCommand: Command = {
  name: 'bench train',
  summary: 'Training images/s on a patch store, data included, side by side with PyTorch.',
  options: {
    data: {
      type: 'string',
      default: 'runs/demo/store',
      description: 'Patch store (make demo writes runs/demo/store)',
    },
    arch: {
      type: 'string',
      default: 'resnet18',
      description: `Network, built the same way on both sides: ${TRAIN_BENCH_ARCHS.join(', ')} (mobilenet_v1: the fast recipe's, width 0.75)`,
    },
    size: {
      type: 'number',
      description:
        "Input size the patches are resized to on both sides (default: the store's, e.g. 96; the reference study trained ResNet50 at 224)",
    },
    'batch-size': { type: 'number', default: 64, description: 'Patches per batch' },
    warmup: { type: 'number', default: 3, description: 'Untimed steps' },
    steps: { type: 'number', default: 30, description: 'Timed steps' },
    rounds: { type: 'number', default: 2, description: 'Alternating pcam / PyTorch rounds' },
    ...COMPUTE_OPTIONS,
    'pcam-only': { type: 'boolean', description: 'Skip PyTorch' },
    json: { type: 'boolean', description: 'Print one JSON object' },
  },
  async run(values) {
    const result = await benchTrain({
      store: values.data as string,
      arch: values.arch as TrainBenchArch,
      size: values.size === undefined ? undefined : checkInteger(values.size, '--size', 16, 1024),
      batchSize: checkInteger(values['batch-size'], '--batch-size', 2, MAX_BATCH_SIZE),
      warmup: checkInteger(values.warmup, '--warmup', 1),
      steps: checkInteger(values.steps, '--steps', 1),
      rounds: checkInteger(values.rounds, '--rounds', 1),
      ...computeOptions(values),
      pcamOnly: values['pcam-only'] === true,
      onProgress: (message) => process.stderr.write(`${message}\n`),
    })
    if (values.json === true) {
      console.log(
        JSON.stringify({
          ...result,
          ratio: result.torchImgPerSec ? result.pcamImgPerSec / result.torchImgPerSec : null,
        }),
      )
      return
    }
    console.log(
      `${result.arch} at ${result.size} px, batch ${result.batchSize}, ${result.threads} thread(s), ${result.precision} on ${result.device}, data included`,
    )
    const busy = (percent: number | null) =>
      percent === null ? '' : `, GPU ${percent.toFixed(0)}% busy`
    console.log(
      `pcam     ${result.pcamImgPerSec.toFixed(1).padStart(8)} images/s${busy(result.pcamGpuUtilization)}`,
    )
    if (result.torchImgPerSec !== null) {
      console.log(
        `PyTorch  ${result.torchImgPerSec.toFixed(1).padStart(8)} images/s${busy(result.torchGpuUtilization)}`,
      )
      console.log(
        `ratio    ${(result.pcamImgPerSec / result.torchImgPerSec).toFixed(2).padStart(8)}`,
      )
    }
  },
}
