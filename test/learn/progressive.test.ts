// Progressive resizing (--sizes): the trainable epochs split into one one-cycle stage per size,
// each stage trained and validated at its size, the run's model chosen among the last size's
// epochs (evaluating it at the run's input size reproduces the recorded figures), and a run
// stopped inside a later size resumes to the same records and weights.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { splitBySize } from '../../src/learn/fine-tune.js'
import { withPreset } from '../../src/recipe/presets.js'
import { trainConfig, type TrainConfig } from '../../src/recipe/train-config.js'
import { recipeStages, train } from '../../src/recipe/train.js'
import { readHistory, readRunConfig, type RunConfig } from '../../src/run/run-folder.js'
import { assertResumesExactly, validLoss } from '../helpers/run-checks.js'
import { makeSyntheticStore, syntheticTrainConfig } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('progressive')
const store = join(root, 'store')

before(async () => {
  await makeSyntheticStore(root)
})

const config = (out: string): TrainConfig => ({
  ...syntheticTrainConfig(store, out),
  epochs: 4,
  sizes: [16, 24],
})

describe('progressive resizing stages', () => {
  it('shares the epochs out smallest size first, the larger sizes taking the remainder', () => {
    const stage = {
      stage: 'unfrozen',
      epochs: 5,
      lr: [1e-4, 2e-3] as [number, number],
      frozen: false,
    }
    assert.deepEqual(
      splitBySize(stage, [96, 128, 160]).map((s) => [s.stage, s.epochs, s.size]),
      [
        ['unfrozen-96', 1, 96],
        ['unfrozen-128', 2, 128],
        ['unfrozen-160', 2, 160],
      ],
    )
  })

  it('runs a pretrained recipe frozen at the first size, and SWA at the last', () => {
    const c = trainConfig({
      store,
      pretrained: 'weights.safetensors',
      epochs: 4,
      sizes: [96, 160],
      swaEpochs: 1,
    })
    assert.deepEqual(
      recipeStages(c, 1e-2).map((s) => [s.stage, s.epochs, s.size]),
      [
        ['frozen', 1, 96],
        ['unfrozen-96', 2, 96],
        ['unfrozen-160', 2, 160],
        ['swa', 1, 160],
      ],
    )
  })

  it('names --sizes in what it refuses, and replaces a preset size', () => {
    const settings = { store, out: join(root, 'unused') }
    assert.throws(() => trainConfig({ ...settings, sizes: [96] }), /--sizes takes two or more/)
    assert.throws(
      () => trainConfig({ ...settings, size: 96, sizes: [96, 160] }),
      /--size and --sizes .* choose one/,
    )
    assert.throws(() => trainConfig({ ...settings, sizes: [96, 4] }), /--sizes/)
    assert.throws(
      () => trainConfig({ ...settings, epochs: 2, sizes: [64, 96, 160] }),
      /at least one epoch a size/,
    )
    const preset = withPreset('cpu-hour', { store, sizes: [96, 160] })
    assert.equal(preset.size, undefined)
    assert.doesNotThrow(() => trainConfig(preset))
  })
})

describe('train --sizes', () => {
  const whole = join(root, 'whole')

  it('trains and validates each stage at its size and keeps the best epoch of the last', async () => {
    const result = await train(config(whole))
    assert.ok(result.completed && result.bestAuc > 0.8, `best valid AUC ${result.bestAuc}`)
    assert.deepEqual(
      readHistory(whole).map((r) => `${r.stage} ${r.epoch}`),
      ['train-16 0', 'train-16 1', 'train-24 0', 'train-24 1'],
    )
    const runConfig = readRunConfig(whole)
    assert.equal(runConfig.inputSize, 24)
    assert.equal(runConfig.validation?.stage, 'train-24')
    assert.deepEqual(runConfig.recipe.sizes, [16, 24])
    // The saved model, evaluated at the run's input size, gives the recorded validation.
    const recorded = runConfig.validation as NonNullable<RunConfig['validation']>
    const loss = await validLoss(whole, store)
    assert.ok(Math.abs(loss - recorded.validLoss) < 1e-4, `${loss} vs ${recorded.validLoss}`)
  })

  it('resumes inside the last size to the same records and weights', async () => {
    await assertResumesExactly(
      whole,
      config,
      (info) => info.stage === 'train-24' && info.batch === 2,
      ['last.safetensors', 'model.safetensors'],
    )
  })
})
