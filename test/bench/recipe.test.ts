// pcam bench recipe: the PyTorch script is the same network from the same weights (its logits
// equal pcam's), and the benchmark runs both sides of a preset through to a complete report.
import assert from 'node:assert/strict'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { benchRecipe, RECIPE_PEER_SCRIPT, recipePeerRequest } from '../../src/bench/recipe.js'
import { runPythonJson, torchPython } from '../../src/bench/python.js'
import { prepareBatch } from '../../src/data/augment.js'
import { PatchStore } from '../../src/data/store.js'
import { recipePreset } from '../../src/recipe/presets.js'
import { initialModel, normalizationFor, trainConfig } from '../../src/recipe/train.js'
import * as t from '../../src/torch/index.js'
import { resolvePretrained } from '../../src/weights/registry.js'
import { realStore, skipWithoutData } from '../helpers/shared-data.js'
import { tempDir } from '../helpers/temp-dir.js'

function skipReason(): string | false {
  if (skipWithoutData) return skipWithoutData
  try {
    torchPython()
  } catch (error) {
    return (error as Error).message
  }
  return false
}

describe('pcam bench recipe', { skip: skipReason() }, async () => {
  const root = tempDir('bench-recipe-test')
  const store = await realStore(root, 96)

  for (const name of ['fast', 'resnet18-scratch']) {
    it(`the PyTorch script's ${name} network gives pcam's logits from the same weights`, async (ctx) => {
      const { pretrained, ...settings } = recipePreset(name).settings
      let weights: string | null
      try {
        weights = await resolvePretrained(pretrained, settings.arch ?? 'small')
      } catch (error) {
        ctx.skip((error as Error).message)
        return
      }
      const config = trainConfig({ ...settings, store, pretrained: weights, mixedPrecision: false })
      const dir = join(root, `check-${name}`)
      mkdirSync(dir)
      const request = { ...(await recipePeerRequest(config, dir, t.getNumThreads())), check: 8 }
      assert.ok(existsSync(request.weights))
      const { logits } = runPythonJson(RECIPE_PEER_SCRIPT, request) as { logits: number[] }
      const patches = PatchStore.open(store)
      t.manualSeed(config.seed)
      const model = initialModel(config).eval()
      const { images } = patches.gather(
        t.tensor(BigInt64Array.from(patches.indicesOf('valid').slice(0, 8), BigInt)),
      )
      const x = prepareBatch(images, {
        size: config.size ?? 96,
        normalization: normalizationFor(config, patches),
      })
      const ours = t
        .noGrad(() => model.forward(x))
        .reshape(-1)
        .toArray()
      assert.equal(logits.length, 8)
      for (let i = 0; i < 8; i++)
        assert.ok(
          Math.abs((ours[i] as number) - (logits[i] as number)) <
            1e-3 * Math.max(1, Math.abs(ours[i] as number)),
          `patch ${i}: pcam ${ours[i]}, PyTorch ${logits[i]}`,
        )
      model.dispose()
      patches.dispose()
    })
  }

  it('runs the fast preset in pcam and in PyTorch and reports both, epoch by epoch', async (ctx) => {
    try {
      await resolvePretrained('imagenet', 'mobilenet_v1')
    } catch (error) {
      ctx.skip((error as Error).message)
      return
    }
    const result = await benchRecipe({ store, recipe: 'fast' })
    const torch = result.torch
    assert.ok(torch)
    for (const side of [result.pcam, torch]) {
      assert.deepEqual(
        side.epochs.map((e) => `${e.stage} ${e.epoch}`),
        ['frozen 1', 'unfrozen 1', 'unfrozen 2', 'unfrozen 3'],
      )
      for (const e of side.epochs) {
        assert.ok(e.trainSeconds > 0 && e.validSeconds > 0 && e.imagesPerSec > 0)
        assert.ok(e.auc >= 0 && e.auc <= 1)
      }
      assert.deepEqual(Object.keys(side.stages).sort(), ['frozen', 'unfrozen'])
      assert.ok(Number.isFinite(side.lastOverFirst))
      // Every epoch's images/s times its seconds is the training split: 3 batches of 64.
      for (const e of side.epochs) assert.ok(Math.abs(e.imagesPerSec * e.trainSeconds - 192) < 1)
    }
    assert.equal(result.pcam_seconds, result.pcam.seconds)
    assert.equal(result.ratio, (result.torch_seconds as number) / result.pcam_seconds)
  })
})
