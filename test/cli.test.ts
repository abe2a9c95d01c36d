// The pcam command as a user runs it: help, errors and exit codes, and the engine benchmark.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parseOptions } from '../src/cli/command.js'
import { createProgress, formatRate } from '../src/cli/progress.js'
import { AUGMENT_PRESETS } from '../src/data/augment.js'
import { RECIPE_PRESETS } from '../src/recipe/presets.js'
import { TRAIN_DEFAULTS } from '../src/recipe/train-config.js'

const BIN = fileURLToPath(new URL('../../bin/pcam.js', import.meta.url))
const pcam = (...args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' })

describe('pcam CLI', () => {
  it('--help lists the commands and exits 0', () => {
    const run = pcam('--help')
    assert.equal(run.status, 0)
    assert.match(run.stdout, /Usage: pcam <command>/)
    assert.match(run.stdout, /bench engine/)
  })

  it('every option of a command is explained in its --help', () => {
    const run = pcam('bench', 'engine', '--help')
    assert.equal(run.status, 0)
    for (const option of [
      '--batch-size',
      '--size',
      '--steps',
      '--rounds',
      '--memory-steps',
      '--json',
    ]) {
      assert.match(run.stdout, new RegExp(`${option}\\b.*\\w`), option)
    }
  })

  it('an unknown command or option exits 1 with a one-line reason', () => {
    const unknown = pcam('trian')
    assert.equal(unknown.status, 1)
    assert.match(unknown.stderr, /^pcam: unknown command "trian"/)
    const badOption = pcam('bench', 'engine', '--batchsize', '3')
    assert.equal(badOption.status, 1)
    assert.match(badOption.stderr, /Unknown option '--batchsize'/)
    const badNumber = pcam('bench', 'engine', '--steps', 'many')
    assert.equal(badNumber.status, 1)
    assert.match(badNumber.stderr, /Expected a number for --steps but received "many"/)
  })

  it('bench engine --json reports pcam and PyTorch throughput and their ratio, in the precision asked for', () => {
    const run = pcam(
      'bench',
      'engine',
      '--json',
      '--batch-size',
      '8',
      '--size',
      '32',
      '--steps',
      '2',
      '--warmup',
      '1',
      '--rounds',
      '1',
      '--precision',
      'bf16',
    )
    assert.equal(run.status, 0, run.stderr)
    const result = JSON.parse(run.stdout)
    // Both sides ran in the precision asked for (autocast bf16), on the CPU.
    assert.deepEqual([result.precision, result.device], ['bf16', 'cpu'])
    for (const key of [
      'train_img_s',
      'infer_img_s',
      'torch_train_img_s',
      'torch_infer_img_s',
      'train_ratio',
    ]) {
      assert.ok(typeof result[key] === 'number' && result[key] > 0, `${key} = ${result[key]}`)
    }
  })
})

describe('pcam data commands', () => {
  it('data prepare without --out exits 1 with the fix', () => {
    const run = pcam('data', 'prepare', '/nonexistent')
    assert.equal(run.status, 1)
    assert.match(run.stderr, /Missing --out <store folder>/)
  })

  it('data prepare on a missing source names it', () => {
    const run = pcam('data', 'prepare', '/nonexistent/pcam', '--out', '/tmp/never-written')
    assert.equal(run.status, 1)
    assert.match(run.stderr, /Data source not found: \/nonexistent\/pcam/)
  })

  it('data show on something that is not a store says how to make one', () => {
    const run = pcam('data', 'show', '/tmp')
    assert.equal(run.status, 1)
    assert.match(
      run.stderr,
      /is not a patch store \(no meta\.json\)\. Create one with "pcam data prepare/,
    )
  })
})

describe('pcam train command', () => {
  it('explains every option and refuses bad input with the fix', () => {
    const help = pcam('train', '--help')
    assert.equal(help.status, 0)
    for (const option of [
      '--data',
      '--arch',
      '--pretrained',
      '--freeze-epochs',
      '--epochs',
      '--lr',
      '--bf16',
    ]) {
      assert.match(help.stdout, new RegExp(`${option}\\b.*\\w`), option)
    }
    assert.match(pcam('train').stderr, /Missing --data <store>/)
    assert.match(
      pcam('train', '--data', 'x', '--arch', 'vgg').stderr,
      /Unknown --arch "vgg"; choose one of small, resnet18/,
    )
    const noWeights = pcam('train', '--data', 'x', '--arch', 'small', '--pretrained', 'imagenet')
    assert.equal(noWeights.status, 1)
    assert.match(noWeights.stderr, /No ImageNet weights are registered for small/)
  })

  it('--recipe list describes the presets; a preset fills what is not given, flags override it', async () => {
    const list = pcam('train', '--recipe', 'list')
    assert.equal(list.status, 0)
    for (const name of Object.keys(RECIPE_PRESETS))
      assert.match(list.stdout, new RegExp(`^${name}$`, 'm'))
    assert.match(list.stdout, /measured: /)
    assert.match(
      pcam('train', '--data', 'x', '--recipe', 'fastest').stderr,
      /Unknown --recipe "fastest"; choose one of fast/,
    )
    assert.match(
      pcam('train', '--data', 'x', '--train-bn', 'no').stderr,
      /Expected true or false for --train-bn but received "no"/,
    )
    const { trainCommand: command, trainConfigFrom } = await import('../src/cli/commands/train.js')
    const parse = (...argv: string[]) => {
      const { values, given } = parseOptions(command, argv)
      return trainConfigFrom(values, given)
    }
    const preset = await parse('--data', 's', '--recipe', 'resnet18-scratch')
    assert.equal(preset.arch, 'resnet18')
    assert.equal(preset.epochs, 4)
    // Presets leave the precision to the hardware: bf16 only where the CPU has bf16 units.
    for (const [units, precision] of [
      ['0', 'fp32'],
      ['1', 'bf16'],
    ] as const) {
      process.env.PCAM_CPU_BF16 = units
      try {
        const chosen = await parse('--data', 's', '--recipe', 'fast', '--device', 'cpu')
        assert.equal(chosen.precision, precision)
        assert.match(chosen.precisionReason, /^auto: this CPU has/)
        assert.equal((await parse('--data', 's', '--recipe', 'fast', '--bf16')).precision, 'bf16')
      } finally {
        delete process.env.PCAM_CPU_BF16
      }
    }
    assert.deepEqual(preset.augment, AUGMENT_PRESETS.light)
    const overridden = await parse(
      '--data',
      's',
      '--recipe',
      'resnet18-scratch',
      '--epochs',
      '2',
      '--augment',
      'none',
      '--train-bn',
      'false',
    )
    assert.equal(overridden.arch, 'resnet18')
    assert.equal(overridden.epochs, 2)
    assert.equal(overridden.augment, null)
    assert.equal(overridden.trainBn, false)
    // Without a preset, the defaults are train's own.
    const plain = await parse('--data', 's')
    assert.equal(plain.arch, 'small')
    assert.equal(TRAIN_DEFAULTS.precision, 'auto')
    assert.equal(plain.device, 'cpu')
    assert.equal(plain.trainBn, undefined)
  })
})

describe('pcam CLI mistakes', () => {
  it('a mistyped option or command gets the closest one, in one line', () => {
    const option = pcam('train', '--data', 'x', '--epoch', '3')
    assert.equal(option.status, 1)
    assert.match(option.stderr, /Unknown option '--epoch'; did you mean --epochs\?/)
    assert.doesNotMatch(option.stderr, /positional argument/)
    const command = pcam('trian', '--data', 'x')
    assert.equal(command.status, 1)
    assert.match(command.stderr, /^pcam: unknown command "trian"; did you mean "pcam train"\?/)
    assert.equal(command.stderr.trim().split('\n').length, 1)
    assert.match(pcam('data', 'prepar', 'x').stderr, /did you mean "pcam data prepare"\?/)
    const leading = pcam('--frobnicate')
    assert.equal(leading.status, 1)
    assert.equal(leading.stderr.trim(), 'pcam: unknown option --frobnicate; see pcam --help')
    assert.match(pcam('train', '--data').stderr, /--data needs a value/)
    assert.match(pcam('train', '--bf16=yes').stderr, /--bf16 is a switch and takes no value/)
  })

  it('--lr says what it takes; stray arguments are refused', () => {
    const lr = pcam('train', '--data', 'x', '--lr', 'abc')
    assert.equal(lr.status, 1)
    assert.match(lr.stderr, /--lr takes a positive number or auto .*; got "abc"/)
    const stray = pcam('train', 'stores/pcam')
    assert.equal(stray.status, 1)
    assert.match(stray.stderr, /pcam train takes options only, not "stores\/pcam"/)
  })

  it('sizes that allocate memory are bounded: a mistyped batch or queue size is a message, not a crash', () => {
    for (const [args, message] of [
      [
        ['bench', 'engine', '--batch-size', '1000000000'],
        /integer in \[1, 4096\] for --batch-size/,
      ],
      [
        ['serve', '--model', 'x', '--max-queue', '10000000'],
        /integer in \[1, 65536\] for --max-queue/,
      ],
      [['serve', '--model', 'x', '--max-batch', '99999'], /integer in \[1, 4096\] for --max-batch/],
      [
        ['serve', '--model', 'x', '--body-limit-mb', '99999'],
        /number in \[0, 1024\] for --body-limit-mb/,
      ],
    ] as const) {
      const r = pcam(...args)
      assert.notEqual(r.status, 0, args.join(' '))
      assert.match(r.stderr, message, args.join(' '))
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    }
  })

  it('--version prints the package version', () => {
    const run = pcam('--version')
    assert.equal(run.status, 0)
    const { version } = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    )
    assert.equal(run.stdout.trim(), version)
  })

  it('usage lines show positional arguments; lr-find lists only what applies to it', () => {
    assert.match(
      pcam('data', 'prepare', '--help').stdout,
      /^Usage: pcam data prepare <source\.\.\.> \[options\]/,
    )
    assert.match(pcam('explain', '--help').stdout, /^Usage: pcam explain <image\.\.\.> \[options\]/)
    assert.match(pcam('report', '--help').stdout, /^Usage: pcam report <run> \[options\]/)
    const lrFind = pcam('lr-find', '--help').stdout
    for (const option of ['--data', '--arch', '--pretrained', '--batch-size', '--bf16'])
      assert.match(lrFind, new RegExp(`^  ${option}\\b`, 'm'), option)
    for (const option of ['--epochs', '--lr', '--early-stop', '--threshold', '--label-smoothing'])
      assert.doesNotMatch(lrFind, new RegExp(`^  ${option}\\b`, 'm'), option)
  })
})

describe('progress bar', () => {
  const capture = () => {
    const written: string[] = []
    const stream = {
      isTTY: true,
      write: (s: string) => written.push(s),
    } as unknown as NodeJS.WriteStream
    return { stream, written }
  }

  it('shows no rate before it has measured one, then a rate with its digits', async () => {
    const { stream, written } = capture()
    const bar = createProgress('epoch', 100, stream)
    bar.update(40) // a resumed epoch starts at 40: not 40 items in no time
    assert.match(written.at(-1)!, /40\/100 --\/s ETA --:--/)
    await new Promise((r) => setTimeout(r, 600))
    bar.update(41)
    const rate = Number(/ ([\d.]+)\/s /.exec(written.at(-1)!)?.[1])
    assert.ok(rate > 0.5 && rate < 3, written.at(-1))
  })

  it('formats slow rates without rounding them to zero', () => {
    assert.equal(formatRate(9022.4), '9022')
    assert.equal(formatRate(12.46), '12.5')
    assert.equal(formatRate(0.42), '0.42')
    assert.equal(formatRate(0.004), '0.0040')
  })
})
