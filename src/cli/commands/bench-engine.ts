/**
 * pcam bench engine: the engine's training and inference speed next to PyTorch's.
 * @module
 */
import { benchEngine, type EngineBenchResult } from '../../bench/engine.js'
import { checkInteger } from '../../torch/index.js'
import type { Command } from '../command.js'
import { COMPUTE_OPTIONS, computeOptions } from '../shared-options.js'
import { MAX_BATCH_SIZE } from '../../data/loader.js'

function table(result: EngineBenchResult): string {
  const fmt = (v: number) => v.toFixed(1).padStart(10)
  const lines = [
    `Reference network, batch ${result.batchSize}x3x${result.size}x${result.size}, ${result.threads} thread(s), channels-last, ${result.precision} on ${result.device}`,
    `${''.padEnd(22)}${'pcam'.padStart(10)}${'PyTorch'.padStart(10)}${'ratio'.padStart(8)}`,
  ]
  const row = (label: string, pcam: number, torch: number | undefined) => {
    const ratio = torch ? (pcam / torch).toFixed(2).padStart(8) : ''
    lines.push(
      `${label.padEnd(22)}${fmt(pcam)}${torch === undefined ? '         -' : fmt(torch)}${ratio}`,
    )
  }
  row('train (images/s)', result.pcam.trainImgPerSec, result.torch?.trainImgPerSec)
  row('inference (images/s)', result.pcam.inferImgPerSec, result.torch?.inferImgPerSec)
  if (result.torch)
    lines.push(
      `PyTorch ${result.torch.torchVersion} (Python) ran the same network in the same rounds.`,
    )
  if (result.memory) {
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`
    lines.push(
      `Resident memory: ${mib(result.memory.rssAtStep100)} at step 100, ${mib(result.memory.rssAtEnd)} at step ` +
        `${result.memory.steps} (${result.memory.growthPct >= 0 ? '+' : ''}${result.memory.growthPct.toFixed(1)}%), ` +
        `${result.memory.liveTensors} live tensors`,
    )
  }
  return lines.join('\n')
}

export const benchEngineCommand: Command = {
  name: 'bench engine',
  summary:
    'Measure training and inference images/s of the reference network, side by side with PyTorch.',
  description:
    'The reference network is four conv3x3-BN-ReLU blocks (32-256 channels) with Adam and BCE loss.\n' +
    'pcam and PyTorch (Python, from $PCAM_PYTHON or /usr/bin/python3) alternate for --rounds rounds;\n' +
    'the median of each is reported. Threads: $PCAM_NUM_THREADS, else every core.',
  options: {
    'batch-size': { type: 'number', default: 64, description: 'Images per batch' },
    size: { type: 'number', default: 96, description: 'Image height and width' },
    warmup: { type: 'number', default: 3, description: 'Untimed steps before timing' },
    steps: {
      type: 'number',
      default: 20,
      description: 'Timed steps for training and for inference',
    },
    rounds: { type: 'number', default: 3, description: 'Alternating pcam / PyTorch rounds' },
    'memory-steps': {
      type: 'number',
      default: 0,
      description: 'Also train this many steps and compare resident memory at step 100 and the end',
    },
    'pcam-only': { type: 'boolean', description: 'Skip PyTorch (no Python needed)' },
    'torch-malloc-tuned': {
      type: 'boolean',
      description: "Give PyTorch pcam's glibc allocator settings too, to compare the engines alone",
    },
    json: { type: 'boolean', description: 'Print one JSON object instead of a table' },
    ...COMPUTE_OPTIONS,
  },
  async run(values) {
    const json = values.json === true
    const result = await benchEngine({
      batchSize: checkInteger(values['batch-size'], '--batch-size', 1, MAX_BATCH_SIZE),
      size: checkInteger(values.size, '--size', 8),
      warmup: checkInteger(values.warmup, '--warmup', 0),
      steps: checkInteger(values.steps, '--steps', 1),
      rounds: checkInteger(values.rounds, '--rounds', 1),
      memorySteps: checkInteger(values['memory-steps'], '--memory-steps', 0),
      pcamOnly: values['pcam-only'] === true,
      torchMallocTuned: values['torch-malloc-tuned'] === true,
      ...computeOptions(values),
      onProgress: (message) => process.stderr.write(`${message}\n`),
    })
    if (!json) {
      console.log(table(result))
      return
    }
    const ratio = (a: number, b: number | undefined) => (b ? a / b : null)
    console.log(
      JSON.stringify({
        ...result,
        train_img_s: result.pcam.trainImgPerSec,
        infer_img_s: result.pcam.inferImgPerSec,
        torch_train_img_s: result.torch?.trainImgPerSec ?? null,
        torch_infer_img_s: result.torch?.inferImgPerSec ?? null,
        train_ratio: ratio(result.pcam.trainImgPerSec, result.torch?.trainImgPerSec),
        infer_ratio: ratio(result.pcam.inferImgPerSec, result.torch?.inferImgPerSec),
      }),
    )
  },
}
