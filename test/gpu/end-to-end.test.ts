// pcam's commands on the GPU as a user runs them: train, eval with TTA, predict and Grad-CAM with
// --device cuda on a synthetic store; the GPU's predictions in fp32 agree with the CPU's; and a
// run stopped on one device resumes on the other (checkpoints hold no device).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { readCsv } from '../../src/data/csv.js'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { trainConfig } from '../../src/recipe/train-config.js'
import { train } from '../../src/recipe/train.js'
import { readHistory } from '../../src/run/run-folder.js'
import { makeSyntheticStore } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'
import { deviceUnderTest } from '../helpers/device-under-test.js'

const {
  request: REQUEST,
  device,
  skip,
} = deviceUnderTest('the CPU runs these commands in the rest of the suite')

const root = tempDir('gpu-e2e')
const store = join(root, 'store')
const run = join(root, 'run')

function pcam(...args: string[]): string {
  const result = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'pcam.js'), ...args], {
    encoding: 'utf8',
  })
  assert.equal(result.status, 0, `pcam ${args.join(' ')}:\n${result.stdout}\n${result.stderr}`)
  return result.stdout + result.stderr
}

describe(`pcam on ${REQUEST}, end to end`, { skip }, () => {
  before(async () => {
    if (!skip) await makeSyntheticStore(root, { train: 256, valid: 32 })
  })

  it('trains on the GPU, and says so in config.json and the epoch table', () => {
    const output = pcam(
      'train',
      '--data',
      store,
      '--out',
      run,
      '--arch',
      'small',
      '--epochs',
      '2',
      '--batch-size',
      '16',
      '--lr',
      '3e-3',
      '--device',
      REQUEST,
    )
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'))
    assert.equal(config.recipe.device, device)
    assert.ok(['bf16', 'fp16'].includes(config.recipe.precision), config.recipe.precision)
    assert.match(output, new RegExp(device))
    const history = readHistory(run)
    assert.equal(history.length, 2)
    assert.ok(history.every((r) => Number.isFinite(r.trainLoss) && Number.isFinite(r.validLoss)))
  })

  it('evaluates with TTA and explains with Grad-CAM on the GPU', () => {
    const output = pcam('eval', '--model', run, '--data', store, '--tta', '--device', REQUEST)
    assert.match(output, /AUC/i)
    const patch = join(root, 'src', 'valid', '1', readdirSync(join(root, 'src', 'valid', '1'))[0]!)
    const explained = join(root, 'explained')
    pcam('explain', '--model', run, patch, '--out', explained, '--device', REQUEST)
    assert.ok(readdirSync(explained).some((f) => f.endsWith('.png')))
  })

  it('predicts in fp32 on the GPU what the CPU predicts, TTA included', () => {
    const csv = (where: string) => {
      const out = join(root, `predictions-${where}.csv`)
      pcam(
        'predict',
        '--model',
        run,
        '--data',
        join(root, 'src', 'valid'),
        '--tta',
        '--precision',
        'fp32',
        '--engine',
        'libtorch',
        '--device',
        where,
        '--out',
        out,
      )
      return readCsv(readFileSync(out, 'utf8'), out)
    }
    const gpu = csv(REQUEST)
    const cpu = csv('cpu')
    assert.equal(gpu.rows.length, 32)
    assert.deepEqual(gpu.header, cpu.header)
    const column = gpu.header.indexOf('probability')
    assert.ok(column >= 0, gpu.header.join(','))
    gpu.rows.forEach(({ fields }, i) => {
      const other = cpu.rows[i]!.fields
      assert.equal(fields[0], other[0])
      const [a, b] = [Number(fields[column]), Number(other[column])]
      assert.ok(Math.abs(a - b) < 1e-3, `${fields[0]}: GPU ${a}, CPU ${b}`)
    })
  })

  it('a run stopped on the GPU resumes on the CPU, and the reverse, EMA included', async () => {
    for (const [k, [first, then]] of (
      [
        [device, 'cpu'],
        ['cpu', device],
      ] as const
    ).entries()) {
      const out = join(root, `moved-${k}`)
      const settings = {
        store,
        out,
        arch: 'small' as const,
        head: 'linear' as const,
        batchSize: 16,
        freezeEpochs: 0,
        epochs: 2,
        lr: 3e-3,
        seed: 5,
        precision: 'fp32' as const,
        // Its averaged weights are checkpointed too, and must follow the model to its device.
        ema: 0.9,
      }
      let batches = 0
      const stopped = await train(trainConfig({ ...settings, device: first }), {
        onBatch: () => void batches++,
        stopRequested: () => batches === 5,
      })
      assert.equal(stopped.completed, false)
      const resumed = await train(trainConfig({ ...settings, device: then }))
      assert.ok(resumed.completed, `${first} -> ${then}`)
      assert.ok(existsSync(join(out, 'last.safetensors')))
      assert.ok(
        readHistory(out).every((r) => Number.isFinite(r.validLoss)),
        `${first} -> ${then}`,
      )
    }
  })
})
