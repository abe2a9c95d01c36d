/**
 * The pcam command line: picks the command from argv, parses its options, maps errors to exit
 * codes (0 success, 1 bad input or setup, 2 unexpected failure). Commands load lazily, so --help
 * works even where the native addon is not built.
 * @module
 */
import { PcamError } from '../errors.js'
import { PCAM_VERSION } from '../version.js'
import { helpText, parseOptions, type Command } from './command.js'
import { closest } from './suggest.js'

/** A command of the command line, loaded on demand. */
export interface CommandEntry {
  name: string
  summary: string
  load: () => Promise<Command>
}

/** Every command, in the order --help lists them. */
export const COMMANDS: CommandEntry[] = [
  {
    name: 'download',
    summary: 'Download PCam (HDF5, MD5-checked) or the Kaggle files, resumably',
    load: async () => (await import('./commands/download.js')).downloadCommand,
  },
  {
    name: 'data prepare',
    summary: 'Decode PCam (HDF5), Kaggle or class folders, plain or zipped, into a patch store',
    load: async () => (await import('./commands/data-prepare.js')).dataPrepareCommand,
  },
  {
    name: 'data show',
    summary: 'A labelled grid PNG of patches from a store (optionally augmented)',
    load: async () => (await import('./commands/data-show.js')).dataShowCommand,
  },
  {
    name: 'lr-find',
    summary: 'Suggest a learning rate for a store and model (LR range test)',
    load: async () => (await import('./commands/lr-find.js')).lrFindCommand,
  },
  {
    name: 'train',
    summary:
      'Train a classifier on a store: one-cycle, freeze/unfreeze, checkpoints, resume, --nproc',
    load: async () => (await import('./commands/train.js')).trainCommand,
  },
  {
    name: 'eval',
    summary: 'Metrics, charts and top losses of a trained run on a store (ROC AUC with CI; --tta)',
    load: async () => (await import('./commands/eval.js')).evalCommand,
  },
  {
    name: 'report',
    summary: 'One self-contained HTML report of a run (evaluations, training, config, caveats)',
    load: async () => (await import('./commands/report.js')).reportCommand,
  },
  {
    name: 'predict',
    summary: 'Probabilities for new patches as CSV (Kaggle submission format or plain; --tta)',
    load: async () => (await import('./commands/predict.js')).predictCommand,
  },
  {
    name: 'explain',
    summary: 'Grad-CAM heatmap overlays and probabilities for images',
    load: async () => (await import('./commands/explain.js')).explainCommand,
  },
  {
    name: 'serve',
    summary: 'HTTP API and web page for a trained run (dynamic batching, Grad-CAM heatmaps)',
    load: async () => (await import('./commands/serve.js')).serveCommand,
  },
  {
    name: 'export',
    summary: 'A run as an ONNX file, or a static web folder that predicts in the browser',
    load: async () => (await import('./commands/export.js')).exportCommand,
  },
  {
    name: 'slide info',
    summary: 'Vendor, levels, µm/px and objective power of a whole-slide image (OpenSlide)',
    load: async () => (await import('./commands/slide-info.js')).slideInfoCommand,
  },
  {
    name: 'slide predict',
    summary: "Tumour map of whole slides at the model's resolution: CSV, heatmap, GeoJSON, summary",
    load: async () => (await import('./commands/slide-predict.js')).slidePredictCommand,
  },
  {
    name: 'slide eval',
    summary: 'Slide ROC AUC and Camelyon16 FROC of slide predict outputs against annotations',
    load: async () => (await import('./commands/slide-eval.js')).slideEvalCommand,
  },
  {
    name: 'bench engine',
    summary: 'Training and inference speed of the engine, side by side with PyTorch',
    load: async () => (await import('./commands/bench-engine.js')).benchEngineCommand,
  },
  {
    name: 'bench train',
    summary: 'resnet18 training speed on a store, data included, side by side with PyTorch',
    load: async () => (await import('./commands/bench-train.js')).benchTrainCommand,
  },
  {
    name: 'bench recipe',
    summary: 'A whole training recipe in pcam and in plain PyTorch, back to back',
    load: async () => (await import('./commands/bench-recipe.js')).benchRecipeCommand,
  },
  {
    name: 'bench predict',
    summary: 'Batch prediction speed of a trained run, with and without test-time augmentation',
    load: async () => (await import('./commands/bench-predict.js')).benchPredictCommand,
  },
  {
    name: 'bench distributed',
    summary: 'Data-parallel training images/s with 1 and 2 ranks, and the all-reduce time per step',
    load: async () => (await import('./commands/bench-distributed.js')).benchDistributedCommand,
  },
  {
    name: 'bench serve',
    summary: 'Requests/s and latency of pcam serve at 1, 8 and 64 clients, batching vs none',
    load: async () => (await import('./commands/bench-serve.js')).benchServeCommand,
  },
  {
    name: 'bench memory',
    summary: 'Live tensors and resident memory over training, validation, prediction and serving',
    load: async () => (await import('./commands/bench-memory.js')).benchMemoryCommand,
  },
  {
    name: 'bench slide',
    summary: 'Slide prediction tiles/s against batch prediction; peak memory on 1x and 4x slides',
    load: async () => (await import('./commands/bench-slide.js')).benchSlideCommand,
  },
  {
    name: 'bench data',
    summary: 'Prepare and loader throughput on real patches, memory while preparing',
    load: async () => (await import('./commands/bench-data.js')).benchDataCommand,
  },
]

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2
  return [
    'Usage: pcam <command> [options]',
    '',
    'Detect metastatic tissue in PatchCamelyon histopathology patches: train, evaluate, explain, serve.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Run "pcam <command> --help" for the options of a command. --verbose shows stack traces;',
    '--version prints the version.',
  ].join('\n')
}

/** One line for a mistyped command: the closest command when there is one, else the help. */
function unknownCommand(args: string[]): string {
  const end = args.findIndex((a) => a.startsWith('-'))
  // An option before any command word ("pcam --frobnicate") names no command to guess from.
  if (end === 0) return `pcam: unknown option ${args[0]}; see pcam --help`
  const words = end < 0 ? args : args.slice(0, end)
  const one = words[0] ?? ''
  const two = words.slice(0, 2).join(' ')
  // Two-word commands are matched on two words ("data prepar"), the rest on one.
  const twoWord = COMMANDS.map((c) => c.name).filter((n) => n.includes(' '))
  const byTwo = words.length >= 2 ? closest(two, twoWord) : undefined
  const guess =
    byTwo ??
    closest(
      one,
      COMMANDS.map((c) => c.name).filter((n) => !n.includes(' ')),
    )
  const given = byTwo ? two : one
  return `pcam: unknown command "${given}"${guess ? `; did you mean "pcam ${guess}"?` : '.'} Run "pcam --help" for the commands.`
}

function findCommand(argv: string[]): { entry: CommandEntry; rest: string[] } | undefined {
  for (const entry of COMMANDS) {
    const words = entry.name.split(' ')
    if (words.every((w, i) => argv[i] === w)) return { entry, rest: argv.slice(words.length) }
  }
  return undefined
}

/** Runs the CLI and returns the exit code. */
export async function run(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose')
  const args = argv.filter((a) => a !== '--verbose')
  if (args.length === 0 || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
    console.log(usage())
    return 0
  }
  if (args[0] === '--version' || args[0] === '-v') {
    console.log(PCAM_VERSION)
    return 0
  }
  const found = findCommand(args)
  if (!found) {
    console.error(unknownCommand(args))
    return 1
  }
  try {
    const command = await found.entry.load()
    if (found.rest.includes('--help') || found.rest.includes('-h')) {
      console.log(helpText(command))
      return 0
    }
    const { values, positionals, given } = parseOptions(command, found.rest)
    await command.run(values, positionals, given)
    return 0
  } catch (error) {
    if (error instanceof PcamError) {
      console.error(`pcam: ${error.message}`)
      if (verbose) console.error(error.stack)
      return 1
    }
    console.error(`pcam: unexpected error: ${(error as Error)?.message ?? String(error)}`)
    if (verbose) console.error((error as Error)?.stack)
    else console.error('Run again with --verbose for the stack trace.')
    return 2
  }
}
