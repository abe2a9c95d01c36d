// Ensembles end to end on real PCam patches: `train --ensemble 2` (stopped in its second member,
// then resumed there) writes two ordinary member runs; every engine, the ONNX export (checked by
// ONNX's own checker), predict, eval and its report, explain, slides and the server's model
// worker give the mean of the members' probabilities.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runPythonJson } from '../../src/bench/python.js'
import { decodePatch } from '../../src/data/decode.js'
import { PatchStore } from '../../src/data/store.js'
import { DataError, ValidationError } from '../../src/errors.js'
import { explainImages } from '../../src/eval/explain.js'
import { predictFiles } from '../../src/eval/predict-files.js'
import {
  EnsemblePredictor,
  openPredictor,
  predictStoreWith,
  type Engine,
} from '../../src/eval/predictor.js'
import { exportOnnx } from '../../src/export/export.js'
import { OnnxPredictor } from '../../src/export/onnx-engine.js'
import { trainConfig, type TrainConfig } from '../../src/recipe/train-config.js'
import { train } from '../../src/recipe/train.js'
import { loadRun, loadRunModels } from '../../src/run/load-run.js'
import { readRunConfig } from '../../src/run/run-folder.js'
import { ModelWorker } from '../../src/serve/inference.js'
import { loadSlideModel } from '../../src/slide/batch.js'
import { PACKAGE_ROOT } from '../../src/paths.js'
import * as t from '../../src/torch/index.js'
import { PCAM_JPEG, realStore, skipWithoutData } from '../helpers/shared-data.js'
import { syntheticTrainConfig } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'

const BIN = fileURLToPath(new URL('../../../bin/pcam.js', import.meta.url))
const pcam = (...args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' })

const root = tempDir('ensemble')
const run = join(root, 'ensemble')
const members = [join(run, 'member-1'), join(run, 'member-2')]
let store = ''
let config: TrainConfig
let patches: t.Tensor

/** 16 real patches of PCam's train folder (not in the store), 8 of each class. */
async function realPatches(): Promise<t.Tensor> {
  const pixels: Buffer[] = []
  for (const label of ['0', '1']) {
    const folder = join(PCAM_JPEG, 'train', label)
    for (const file of readdirSync(folder).sort().slice(0, 8))
      pixels.push((await decodePatch(readFileSync(join(folder, file)))).pixels)
  }
  return t.tensor(new Uint8Array(Buffer.concat(pixels)), { shape: [pixels.length, 96, 96, 3] })
}

/** max |a - b| over two equal-length arrays. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length)
  return Math.max(...Array.from(a, (v, i) => Math.abs(v - (b[i] as number))))
}

/** The mean of the members' probabilities, each member opened as its own run. */
async function membersMean(engine: Engine, images: t.Tensor): Promise<Float32Array> {
  const each: Float32Array[] = []
  for (const dir of members) {
    const predictor = await openPredictor(dir, engine)
    try {
      each.push(await predictor.predict(images))
    } finally {
      predictor.dispose()
    }
  }
  return Float32Array.from(each[0] as Float32Array, (v, i) => (v + (each[1]![i] as number)) / 2)
}

describe('ensembles', { skip: skipWithoutData }, () => {
  before(async () => {
    store = await realStore(root, 48)
    config = { ...syntheticTrainConfig(store, run), epochs: 1, batchSize: 16, ensemble: 2 }
    patches = await realPatches()
  })
  after(() => patches?.dispose())

  it('train --ensemble 2 stopped in member 2 resumes there and writes both members', async () => {
    const started: number[] = []
    let current = -1
    const stopped = await train(config, {
      onMember: ({ index }) => (current = index),
      stopRequested: () => current === 1,
    })
    assert.equal(stopped.completed, false)
    assert.equal(stopped.members?.length, 2)
    assert.equal(stopped.members?.[0]?.completed, true)
    assert.throws(() => readRunConfig(run), /ensemble whose members have not all finished/)
    const resumed: number[] = []
    const done = await train(config, {
      onMember: ({ index, seed }) => started.push(index, seed),
      onResume: () => resumed.push(started.length),
    })
    assert.equal(done.completed, true)
    assert.deepEqual(started, [0, 7, 1, 8])
    assert.equal(resumed.length, 2, 'both members resume from their checkpoints')
    const ensemble = readRunConfig(run)
    assert.deepEqual(ensemble.ensemble?.members, ['member-1', 'member-2'])
    assert.equal(ensemble.threshold?.stage, 'ensemble')
    assert.equal(ensemble.recipe.ensemble, 2)
    assert.equal(done.bestAuc, ensemble.validation?.auc)
    assert.ok(done.bestAuc > 0.6, `ensemble valid AUC ${done.bestAuc}`)
    for (const [i, dir] of members.entries()) {
      const member = readRunConfig(dir)
      assert.equal(member.recipe.seed, 7 + i)
      assert.equal(member.recipe.ensemble, undefined, 'a member is an ordinary run')
      assert.equal(member.model.arch, ensemble.model.arch)
    }
  })

  it('an ensemble folder is refused by loadRun with a pointer to its members', () => {
    assert.throws(
      () => loadRun(run),
      (e: Error) => e instanceof DataError && /member-1/.test(e.message),
    )
    assert.throws(
      () => trainConfig({ store, ensemble: 1.5 }),
      (e: Error) => e instanceof ValidationError && /--ensemble/.test(e.message),
    )
    assert.equal(trainConfig({ store, ensemble: 1 }).ensemble, undefined)
  })

  for (const engine of ['libtorch', 'onnxruntime'] as const) {
    it(`${engine}: the ensemble's probabilities are its members' mean within 1e-6`, async () => {
      const predictor = await openPredictor(run, engine)
      try {
        assert.ok(predictor instanceof EnsemblePredictor)
        assert.equal(predictor.engine, engine)
        const p = await predictor.predict(patches)
        assert.ok(maxDiff(p, await membersMean(engine, patches)) < 1e-6)
      } finally {
        predictor.dispose()
      }
    })
  }

  it('exports one ONNX graph that passes the checker and gives the mean within 1e-4', async () => {
    const out = join(root, 'ensemble.onnx')
    exportOnnx(run, out)
    const script = join(PACKAGE_ROOT, 'test', 'export', 'onnx_check.py')
    const [reply] = runPythonJson(script, { paths: [out] }) as {
      dims: unknown[]
      metadata: Record<string, string>
    }[]
    assert.deepEqual(reply?.dims, ['N', 96, 96, 3])
    assert.equal(reply?.metadata.ensemble_members, '2')
    assert.equal(Number(reply?.metadata.threshold), readRunConfig(run).threshold?.value)
    const onnx = await OnnxPredictor.open(out, readRunConfig(run))
    try {
      const p = await onnx.predict(patches)
      const mean = await membersMean('libtorch', patches)
      assert.ok(maxDiff(p, mean) < 1e-4, `max difference ${maxDiff(p, mean)}`)
      assert.ok(maxDiff(p, await membersMean('onnxruntime', patches)) < 1e-4)
    } finally {
      onnx.dispose()
    }
  })

  it('pcam eval lists each member and the ensemble; the report shows them', () => {
    const evaluated = pcam('eval', '--model', run, '--data', store, '--top-losses', '2', '--json')
    assert.equal(evaluated.status, 0, evaluated.stderr)
    const result = JSON.parse(evaluated.stdout) as {
      rocAuc: number
      members: { member: string; rocAuc: number; threshold: number }[]
      report: string
    }
    assert.deepEqual(
      result.members.map((m) => m.member),
      ['member-1', 'member-2'],
    )
    assert.equal(result.members[0]?.threshold, readRunConfig(members[0] as string).threshold?.value)
    const html = readFileSync(result.report, 'utf8')
    assert.match(html, /Members and ensemble/)
    assert.match(html, /Ensemble members/)
    assert.match(html, /member-2/)
    const text = pcam('eval', '--model', run, '--data', store, '--top-losses', '0')
    assert.equal(text.status, 0, text.stderr)
    assert.match(text.stdout, /^member-1 .*\n^member-2 .*\n^ensemble /m)
  })

  it("predict: the CSV probabilities are the members' mean", async () => {
    const folder = join(PCAM_JPEG, 'train', '1')
    const sources = readdirSync(folder)
      .sort()
      .slice(0, 6)
      .map((f) => join(folder, f))
    const mean = async (dir: string) =>
      (await predictFiles({ run: dir, sources, tta: false, engine: 'libtorch' })).predictions
    const ensemble = await mean(run)
    const one = await mean(members[0]!)
    const two = await mean(members[1]!)
    assert.equal(ensemble.length, 6)
    const expected = one.map((p, i) => (p.probability + two[i]!.probability) / 2)
    assert.ok(
      maxDiff(
        ensemble.map((p) => p.probability),
        expected,
      ) < 1e-6,
    )
  })

  it("explain: the probability is the members' mean, the overlay the mean of their Grad-CAMs", async () => {
    const image = join(
      PCAM_JPEG,
      'train',
      '1',
      readdirSync(join(PCAM_JPEG, 'train', '1')).sort()[0]!,
    )
    const [result] = await explainImages({ run, images: [image], out: join(root, 'explained') })
    const one = await explainImages({ run: members[0]!, images: [image], out: join(root, 'm1') })
    const two = await explainImages({ run: members[1]!, images: [image], out: join(root, 'm2') })
    const mean = (one[0]!.probability + two[0]!.probability) / 2
    assert.ok(Math.abs(result!.probability - mean) < 1e-6)
    assert.ok(existsSync(result!.output))
  })

  it('slides: the slide model predicts tiles with the mean and the ensemble threshold', async () => {
    const model = await loadSlideModel(run, { engine: 'libtorch', modelMpp: 0.972 })
    try {
      assert.equal(model.threshold, readRunConfig(run).threshold?.value)
      const p = await model.predict(patches)
      assert.ok(maxDiff(p, await membersMean('libtorch', patches)) < 1e-6)
    } finally {
      model.dispose()
    }
  })

  it("serve: the model worker answers with the mean, Grad-CAM overlays and the ensemble's ONNX", async () => {
    const worker = await ModelWorker.start({ run, tta: false, engine: 'onnxruntime' })
    try {
      assert.deepEqual(worker.config.ensemble?.members, ['member-1', 'member-2'])
      const pixels = patches.data() as Uint8Array
      const answer = await worker.predict({
        pixels: pixels.slice(),
        count: 16,
        size: 96,
        explain: [0],
      })
      assert.ok(maxDiff(answer.probabilities, await membersMean('onnxruntime', patches)) < 1e-6)
      assert.equal(answer.overlays?.length, 96 * 96 * 3)
      assert.equal(await worker.onnxPath(), join(run, 'model.onnx'))
    } finally {
      await worker.close()
    }
  })

  it('eval through the library keeps the member predictions of both engines the same', async () => {
    const opened = PatchStore.open(store)
    const loaded = loadRunModels(run)
    try {
      assert.equal(loaded.models.length, 2)
      const indices = opened.indicesOf('valid').slice(0, 32)
      const torch = await openPredictor(run, 'libtorch')
      const ort = await openPredictor(run, 'onnxruntime')
      try {
        const a = await predictStoreWith(torch, opened, indices)
        const b = await predictStoreWith(ort, opened, indices)
        assert.ok(maxDiff(a, b) < 1e-4)
      } finally {
        torch.dispose()
        ort.dispose()
      }
    } finally {
      for (const m of loaded.models) m.dispose()
      opened.dispose()
    }
  })
})
