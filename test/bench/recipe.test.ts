// pcam bench recipe: the PyTorch script is the same network from the same weights (its logits
// equal pcam's), and the benchmark runs both sides of a preset through to a complete report.
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { benchRecipe, RECIPE_PEER_SCRIPT, recipePeerRequest } from '../../src/bench/recipe.js'
import { pairOrder } from '../../src/bench/rounds.js'
import { runPythonJson } from '../../src/bench/python.js'
import { prepareBatch } from '../../src/data/augment.js'
import { PatchStore } from '../../src/data/store.js'
import { recipePreset } from '../../src/recipe/presets.js'
import { trainConfig } from '../../src/recipe/train-config.js'
import { initialModel, normalizationFor } from '../../src/recipe/setup.js'
import * as t from '../../src/torch/index.js'
import { resolvePretrained } from '../../src/weights/registry.js'
import { skipWithoutDataOrTorch } from '../helpers/bench-peer.js'
import { realStore } from '../helpers/shared-data.js'
import { tempDir } from '../helpers/temp-dir.js'

describe('pcam bench recipe', { skip: skipWithoutDataOrTorch() }, async () => {
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
      const config = trainConfig({ ...settings, store, pretrained: weights, precision: 'fp32' })
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

  it('runs the fast preset in pcam and in PyTorch, two pairs in alternating order, and reports both, epoch by epoch', async (ctx) => {
    try {
      await resolvePretrained('imagenet', 'mobilenet_v1')
    } catch (error) {
      ctx.skip((error as Error).message)
      return
    }
    const started: string[] = []
    const result = await benchRecipe({
      store,
      recipe: 'fast',
      pairs: 2,
      onProgress: (m) => {
        if (/^pcam train|^PyTorch \(/.test(m)) started.push(m.startsWith('pcam') ? 'pcam' : 'torch')
      },
    })
    // The second pair starts with PyTorch, so drift over a pair favours neither side.
    assert.deepEqual(started, ['pcam', 'torch', 'torch', 'pcam'])
    assert.deepEqual(
      result.pairs.map((p) => p.order),
      [pairOrder(0), pairOrder(1)],
    )
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
    assert.equal(result.pairs[0]?.pcam_seconds, result.pcam.seconds)
    assert.equal(result.pairs[0]?.pcam_last_over_first, result.pcam.lastOverFirst)
    assert.equal(result.pairs[0]?.torch_last_over_first, torch.lastOverFirst)
    assert.deepEqual(
      result.pairs[0]?.pcam_images_per_sec,
      result.pcam.epochs.map((e) => e.imagesPerSec),
    )
    for (const p of result.pairs) {
      assert.ok(Number.isFinite(p.pcam_last_over_first) && Number.isFinite(p.torch_last_over_first))
      assert.equal(p.pcam_images_per_sec.length, 4)
      assert.equal(p.torch_images_per_sec?.length, 4)
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    assert.equal(result.pcam_seconds, mean(result.pairs.map((p) => p.pcam_seconds)))
    assert.equal(result.torch_seconds, mean(result.pairs.map((p) => p.torch_seconds as number)))
    assert.equal(result.ratio, (result.torch_seconds as number) / result.pcam_seconds)
  })

  it('on Ctrl-C kills the run in progress and leaves no temporary runs behind', async () => {
    const ours = () => readdirSync(tmpdir()).filter((n) => n.startsWith('pcam-bench-recipe-'))
    const before = new Set(ours())
    const controller = new AbortController()
    const running = benchRecipe({
      store,
      recipe: 'resnet18-scratch',
      signal: controller.signal,
      onProgress: (m) => {
        if (m.startsWith('pcam train')) setTimeout(() => controller.abort(), 1500)
      },
    })
    await assert.rejects(running, /Interrupted/)
    assert.deepEqual(
      ours().filter((n) => !before.has(n)),
      [],
    )
    // No pcam train of this store is still running.
    const alive = readdirSync('/proc')
      .filter((pid) => /^\d+$/.test(pid))
      .filter((pid) => {
        try {
          const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
          return args.includes('train') && args.includes(store)
        } catch {
          return false
        }
      })
    assert.deepEqual(alive, [])
  })
})

describe('pcam bench recipe pairs', () => {
  it('refuses a number of pairs that is not a whole number of at least 1', async () => {
    for (const pairs of [0, 1.5])
      await assert.rejects(benchRecipe({ store: 'unused', recipe: 'fast', pairs }), /--pairs/)
  })
})
