// Weight averaging in the training recipe: --ema and --swa-epochs validate and save the average
// (evaluating model.safetensors reproduces the recorded validation loss, which the raw weights do
// not), record it in config.json, and a run stopped mid-epoch resumes to the same weights,
// averages and records as an uninterrupted one. Then `pcam train` itself on real PCam patches.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { AveragedWeights } from '../../src/learn/averaged-weights.js'
import { BatchNorm2d, Conv2d, Sequential } from '../../src/nn/index.js'
import { trainConfig, type TrainConfig } from '../../src/recipe/train-config.js'
import { manualSeed } from '../../src/torch/index.js'
import { train } from '../../src/recipe/train.js'
import { readHistory, readRunConfig, type RunConfig } from '../../src/run/run-folder.js'
import { assertResumesExactly, validLoss } from '../helpers/run-checks.js'
import { realStore, skipWithoutData } from '../helpers/shared-data.js'
import { makeSyntheticStore, syntheticTrainConfig } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'

const BIN = fileURLToPath(new URL('../../../bin/pcam.js', import.meta.url))
const root = tempDir('averaging')
const store = join(root, 'store')

before(async () => {
  await makeSyntheticStore(root)
})

const config = (out: string, settings: Partial<TrainConfig>): TrainConfig => ({
  ...syntheticTrainConfig(store, out),
  ...settings,
})

/** The weights, the saved model and the averages' state must all resume to the same values. */
const CHECKPOINT_FILES = ['last.safetensors', 'model.safetensors', 'callbacks.safetensors']

/** The saved model is the validated one: its loss is the recorded one, the raw weights' is not. */
async function assertSavedModelIsValidated(run: string): Promise<void> {
  const recorded = (readRunConfig(run).validation as NonNullable<RunConfig['validation']>).validLoss
  const saved = await validLoss(run, store)
  assert.ok(Math.abs(saved - recorded) < 1e-4, `model.safetensors ${saved} vs recorded ${recorded}`)
  const raw = `${run}-raw`
  cpSync(run, raw, { recursive: true })
  copyFileSync(join(run, 'last.safetensors'), join(raw, 'model.safetensors'))
  const trained = await validLoss(raw, store)
  assert.ok(Math.abs(trained - recorded) > 1e-3, `the raw weights score ${trained} too`)
}

describe('--ema', () => {
  const whole = join(root, 'ema')
  const settings = { ema: 0.9 }

  it('validates and saves the average, and records the decay in config.json', async () => {
    const result = await train(config(whole, settings))
    assert.ok(result.completed && result.bestAuc > 0.8, `best valid AUC ${result.bestAuc}`)
    assert.equal(readRunConfig(whole).recipe.ema, 0.9)
    const state = JSON.parse(readFileSync(join(whole, 'state.json'), 'utf8'))
    // 96 training patches in batches of 16, 3 epochs.
    assert.deepEqual(state.callbacks, { ema: { updates: 18 } })
    await assertSavedModelIsValidated(whole)
  })

  it('resumes mid-epoch to the same weights, average and records', async () => {
    await assertResumesExactly(
      whole,
      (out) => config(out, settings),
      (info) => info.epoch === 1 && info.batch === 3,
      CHECKPOINT_FILES,
    )
  })
})

describe('--swa-epochs', () => {
  const whole = join(root, 'swa')
  const settings = { epochs: 2, swaEpochs: 2 }

  it('appends SWA epochs whose averaged model, statistics recomputed, is the run model', async () => {
    assert.ok((await train(config(whole, settings))).completed)
    assert.deepEqual(
      readHistory(whole).map((r) => `${r.stage} ${r.epoch}`),
      ['train 0', 'train 1', 'swa 0', 'swa 1'],
    )
    const runConfig = readRunConfig(whole)
    assert.equal(runConfig.recipe.swaEpochs, 2)
    assert.equal(runConfig.validation?.stage, 'swa')
    assert.equal(runConfig.validation?.epoch, 1)
    const state = JSON.parse(readFileSync(join(whole, 'state.json'), 'utf8'))
    assert.equal(state.callbacks.swa.averaged, 2)
    await assertSavedModelIsValidated(whole)
  })

  it('resumes within the SWA stage to the same weights, average and records', async () => {
    await assertResumesExactly(
      whole,
      (out) => config(out, settings),
      (info) => info.stage === 'swa' && info.epoch === 1 && info.batch === 2,
      CHECKPOINT_FILES,
    )
  })
})

describe('AveragedWeights', () => {
  it("a restored average takes its parameters' device and layout, values unchanged", () => {
    manualSeed(2)
    const model = new Sequential(new Conv2d(3, 4, 3), new BatchNorm2d(4)).toChannelsLast()
    // As a checkpoint restores it: contiguous copies on the CPU.
    const saved = new Map([...model.namedParameters()].map(([name, p]) => [name, p.contiguous()]))
    const weights = new AveragedWeights()
    weights.reset(saved)
    const average = weights.averageOn(model)!
    for (const [name, p] of model.namedParameters()) {
      const avg = average.get(name)!
      assert.equal(avg.device, p.device)
      assert.equal(avg.isContiguous('channelsLast'), p.isContiguous('channelsLast'), name)
      assert.deepEqual(avg.toArray(), p.toArray(), name)
    }
    assert.equal(average.get('0.weight')!.isContiguous(), false, 'the 4-D weight is channels-last')
    assert.equal(weights.averageOn(model), average)
    for (const t of saved.values()) t.dispose()
    weights.dispose()
    model.dispose()
  })
})

describe('trainConfig on averaging', () => {
  it('names the option of a bad decay or count, and refuses both averages at once', () => {
    const settings = { store, out: join(root, 'unused') }
    for (const ema of [0, 1, 1.5, Number.NaN])
      assert.throws(() => trainConfig({ ...settings, ema }), /decay in \(0, 1\) for --ema/)
    assert.throws(() => trainConfig({ ...settings, swaEpochs: 1.5 }), /integer for --swa-epochs/)
    assert.throws(() => trainConfig({ ...settings, swaEpochs: -1 }), /integer for --swa-epochs/)
    assert.throws(
      () => trainConfig({ ...settings, ema: 0.99, swaEpochs: 1 }),
      /--ema and --swa-epochs .* choose one/,
    )
    // --swa-epochs 0 is no SWA, so a run started without it resumes with it.
    assert.equal(
      'swaEpochs' in JSON.parse(JSON.stringify(trainConfig({ ...settings, swaEpochs: 0 }))),
      false,
    )
  })
})

describe('pcam train --ema / --swa-epochs on real patches', { skip: skipWithoutData }, () => {
  const pcam = (...args: string[]) =>
    spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' })

  it('--help explains both options, and a bad decay exits 1 naming --ema', () => {
    const help = pcam('train', '--help')
    assert.match(help.stdout, /--ema\b.*moving average/)
    assert.match(help.stdout, /--swa-epochs\b.*weight averaging/)
    const bad = pcam('train', '--data', 'x', '--ema', '1.5')
    assert.equal(bad.status, 1)
    assert.match(bad.stderr, /--ema/)
  })

  it('writes a model whose config.json records the average', async () => {
    const real = await realStore(join(root, 'real-data'), 48)
    const base = ['train', '--data', real, '--size', '32', '--batch-size', '32', '--epochs', '1']
    const ema = join(root, 'cli-ema')
    const emaRun = pcam(...base, '--out', ema, '--ema', '0.99')
    assert.equal(emaRun.status, 0, emaRun.stderr)
    assert.equal(readRunConfig(ema).recipe.ema, 0.99)
    assert.ok(existsSync(join(ema, 'model.safetensors')))
    const swa = join(root, 'cli-swa')
    const swaRun = pcam(...base, '--out', swa, '--swa-epochs', '1')
    assert.equal(swaRun.status, 0, swaRun.stderr)
    assert.match(swaRun.stdout, /^swa 1 /m)
    const runConfig = readRunConfig(swa)
    assert.equal(runConfig.recipe.swaEpochs, 1)
    assert.equal(runConfig.validation?.stage, 'swa')
    assert.ok(existsSync(join(swa, 'model.safetensors')))
  })
})
