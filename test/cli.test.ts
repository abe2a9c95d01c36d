// The pcam command as a user runs it: help, errors and exit codes, and the engine benchmark.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

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

  it('bench engine --json reports pcam and PyTorch throughput and their ratio', () => {
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
    )
    assert.equal(run.status, 0, run.stderr)
    const result = JSON.parse(run.stdout)
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
})
