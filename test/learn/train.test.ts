// The training recipe end to end on a small synthetic store: the model learns, the run folder
// holds what docs/formats.md promises, and a run stopped mid-epoch resumes to the same final weights
// as an uninterrupted one.
import assert from 'node:assert/strict'
import { readCsv } from '../../src/data/csv.js'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { recipeOf } from '../../src/recipe/run-mode.js'
import { trainConfig, type TrainConfig } from '../../src/recipe/train-config.js'
import { train } from '../../src/recipe/train.js'
import { readHistory } from '../../src/run/run-folder.js'
import { readSafetensors } from '../../src/weights/safetensors.js'
import { KAGGLE_SAMPLE, skipWithoutData } from '../helpers/shared-data.js'
import { untimedRecords } from '../helpers/run-records.js'
import { makeSyntheticStore, syntheticTrainConfig } from '../helpers/synthetic-store.js'
import { assertClose } from '../helpers/torch-reference.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('train')
const store = join(root, 'store')

before(async () => {
  await makeSyntheticStore(root)
})

const config = (out: string): TrainConfig => syntheticTrainConfig(store, out)

describe('train', () => {
  it('learns, and writes config, metrics per epoch, the best model and the resume state', async () => {
    const out = join(root, 'run-a')
    const result = await train(config(out))
    assert.ok(result.completed)
    assert.ok(result.bestAuc > 0.9, `best valid AUC ${result.bestAuc}`)
    for (const file of [
      'config.json',
      'metrics.jsonl',
      'model.safetensors',
      'last.safetensors',
      'optimizer.safetensors',
      'state.json',
    ]) {
      assert.ok(existsSync(join(out, file)), file)
    }
    const lines = readHistory(out)
    assert.equal(lines.length, 3)
    assert.ok(lines.every((l) => typeof l.auc === 'number' && typeof l.trainLoss === 'number'))
    const runConfig = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    assert.equal(runConfig.model.arch, 'small')
    // The threshold and validation figures come from the best epoch.
    const best = lines.reduce((a, b) => (b.auc > a.auc ? b : a))
    assert.deepEqual(runConfig.validation, best)
    assert.equal(runConfig.threshold.rule, 'youden')
    assert.equal(runConfig.threshold.epoch, best.epoch)
    assert.ok(runConfig.threshold.value > 0 && runConfig.threshold.value < 1)
  })

  it('records the µm/px given for a store that has none, so slides need no --model-mpp', async () => {
    const out = join(root, 'run-mpp')
    await train({ ...config(out), epochs: 1, mpp: 0.5 })
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    assert.equal(saved.mpp, 0.5)
    assert.throws(() => trainConfig({ store, out: join(root, 'x'), mpp: 0 }), /--mpp/)
  })

  it('a run stopped mid-epoch resumes to the same final weights as an uninterrupted run', async () => {
    const out = join(root, 'run-b')
    const controller = new AbortController()
    const stopped = await train(config(out), {
      signal: controller.signal,
      onBatch: (info) => {
        if (info.epoch === 1 && info.batch === 3) controller.abort()
      },
    })
    assert.equal(stopped.completed, false)
    assert.equal(JSON.parse(readFileSync(join(out, 'state.json'), 'utf8')).position.batch, 3)
    const resumed = await train(config(out))
    assert.ok(resumed.completed)
    assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 3)
    const a = readSafetensors(join(root, 'run-a', 'last.safetensors')).tensors
    const b = readSafetensors(join(out, 'last.safetensors')).tensors
    assert.deepEqual([...a.keys()], [...b.keys()])
    for (const [name, value] of a)
      assertClose(b.get(name)!, value, { what: name, atol: 1e-6, rtol: 1e-5 })
    // The interrupted epoch's record counts the batches before the stop too.
    assert.deepEqual(untimedRecords(out), untimedRecords(join(root, 'run-a')))
  })

  it('lists an epoch once when a crash came between its metrics and its checkpoint', async () => {
    const out = join(root, 'run-crash')
    const controller = new AbortController()
    await train(config(out), {
      signal: controller.signal,
      onBatch: (info) => {
        if (info.epoch === 1 && info.batch === 2) controller.abort()
      },
    })
    // What a crash after writing epoch 2's metrics but before its checkpoint leaves behind.
    const metrics = join(out, 'metrics.jsonl')
    const first = readFileSync(metrics, 'utf8').trim().split('\n')
    assert.equal(first.length, 1)
    writeFileSync(metrics, `${first[0]}\n${first[0]!.replace('"epoch":0', '"epoch":1')}\n`)
    assert.ok((await train(config(out))).completed)
    const epochs = readHistory(out).map((r) => r.epoch)
    assert.deepEqual(epochs, [0, 1, 2])
  })
})

describe('run folders', () => {
  it('resumes only with the same settings; names what differs and a free folder', async () => {
    const out = join(root, 'run-a')
    await assert.rejects(
      train({ ...config(out), lr: 0.01, batchSize: 8 }),
      (error: Error) =>
        /--lr 0\.01 \(the run has 0\.003\)/.test(error.message) &&
        /--batch-size 8 \(the run has 16\)/.test(error.message) &&
        error.message.includes(`--out ${out}-2`),
    )
    await assert.rejects(train({ ...config(out), arch: 'resnet18' }), /--arch "resnet18"/)
  })

  it('never writes into a folder that is not a run', async () => {
    const out = join(root, 'my-notes')
    mkdirSync(out)
    writeFileSync(join(out, 'config.json'), '{"mine": true}')
    await assert.rejects(train(config(out)), /not written by "pcam train"/)
    const other = join(root, 'photos')
    mkdirSync(other)
    writeFileSync(join(other, 'cat.png'), 'x')
    await assert.rejects(train(config(other)), /not a pcam run folder/)
    assert.deepEqual(readdirSync(other), ['cat.png'])
    assert.equal(readFileSync(join(out, 'config.json'), 'utf8'), '{"mine": true}')
  })

  it('leaves no run folder behind when the pretrained weights fail to load', async () => {
    const weights = join(root, 'broken.safetensors')
    writeFileSync(weights, 'not safetensors at all')
    const out = join(root, 'run-pretrained')
    await assert.rejects(train({ ...config(out), pretrained: weights }))
    assert.equal(existsSync(out), false)
  })

  it('says plainly that a store without labelled patches cannot be trained on', async () => {
    const unlabelled = join(root, 'unlabelled')
    cpSync(store, unlabelled, { recursive: true })
    const metaPath = join(unlabelled, 'meta.json')
    const meta = JSON.parse(readFileSync(metaPath, 'utf8'))
    meta.splits = meta.splits.map(() => 'test')
    writeFileSync(metaPath, JSON.stringify(meta))
    await assert.rejects(
      train({ ...syntheticTrainConfig(unlabelled, join(root, 'run-unlabelled')) }),
      /has no labelled training patches/,
    )
  })
})

describe('lr auto', () => {
  it('saves the finder curve and plot, and a resumed run keeps the rate it found', async () => {
    const auto = (out: string): TrainConfig => ({ ...config(out), lr: 'auto', epochs: 2 })
    const whole = await train(auto(join(root, 'auto-a')))
    for (const file of ['lr-find.csv', 'lr-find.json', 'lr-find.svg', 'lr-find.png'])
      assert.ok(existsSync(join(root, 'auto-a', file)), file)
    // The CSV holds the curve of the JSON, row by row.
    const found = JSON.parse(readFileSync(join(root, 'auto-a', 'lr-find.json'), 'utf8'))
    const csv = readCsv(readFileSync(join(root, 'auto-a', 'lr-find.csv'), 'utf8'), 'lr-find.csv')
    assert.deepEqual(csv.header, ['lr', 'loss'])
    assert.deepEqual(
      csv.rows.map(({ fields }) => fields.map(Number)),
      found.lrs.map((lr: number, i: number) => [lr, found.losses[i]]),
    )
    const controller = new AbortController()
    const out = join(root, 'auto-b')
    await train(auto(out), {
      signal: controller.signal,
      onBatch: (info) => info.epoch === 1 && info.batch === 2 && controller.abort(),
    })
    let foundAgain = false
    const resumed = await train(auto(out), { onLrFound: () => (foundAgain = true) })
    assert.ok(resumed.completed && !foundAgain)
    assert.equal(resumed.lr, whole.lr)
    const a = readSafetensors(join(root, 'auto-a', 'last.safetensors')).tensors
    const b = readSafetensors(join(out, 'last.safetensors')).tensors
    for (const [name, value] of a)
      assertClose(b.get(name)!, value, { what: name, atol: 1e-6, rtol: 1e-5 })
    // The interrupted epoch's record counts the batches before the stop too.
    assert.deepEqual(untimedRecords(out), untimedRecords(join(root, 'auto-a')))
  })
})

describe('lr finder', () => {
  it('sweeps rising rates, records smoothed losses and suggests a rate inside the sweep', async () => {
    const { findLearningRate } = await import('../../src/recipe/train.js')
    const result = await findLearningRate({ ...config(join(root, 'lr')), augment: null })
    assert.ok(result.lrs.length >= 10, `${result.lrs.length} points`)
    assert.ok(result.lrs.every((lr, i) => i === 0 || lr > result.lrs[i - 1]!))
    assert.equal(result.losses.length, result.lrs.length)
    assert.ok(result.suggestion >= 1e-7 && result.suggestion <= 10)
    assert.ok(result.minimumTenth > 0)
  })

  it("sweeps with the run's optimizer and loss: the curve train --lr auto draws", async () => {
    const { findLearningRate } = await import('../../src/recipe/train.js')
    const sgd = { ...config(join(root, 'lr-sgd')), opt: 'sgd' as const, labelSmoothing: 0.1 }
    await train({ ...sgd, lr: 'auto', epochs: 1 })
    const found = await findLearningRate(sgd)
    const during = JSON.parse(readFileSync(join(root, 'lr-sgd', 'lr-find.json'), 'utf8'))
    assert.deepEqual(found.losses, during.losses)
    assert.equal(found.suggestion, during.suggestion)
  })
})

describe('trainConfig', () => {
  it('checks what the library is given as the CLI would, naming the flags', () => {
    const settings = { store, out: join(root, 'unused') }
    assert.throws(
      () => trainConfig({ ...settings, arch: 'vgg' as 'small' }),
      /Unknown --arch "vgg"/,
    )
    assert.throws(() => trainConfig({ ...settings, lr: -1 }), /--lr takes a positive number/)
    assert.throws(
      () => trainConfig({ ...settings, opt: 'adam' as 'sgd' }),
      /adamw or sgd for --opt/,
    )
    assert.throws(() => trainConfig({ ...settings, batchSize: 1 }), /--batch-size/)
    assert.equal(trainConfig({ store }).out, join('runs', 'small'))
  })

  it("the recipe in config.json holds a data-parallel group's size, not a rank's address", () => {
    const distributed = {
      rank: 1,
      worldSize: 2,
      masterAddr: '10.0.0.1',
      masterPort: 2950,
      timeoutMs: 1000,
      bnStats: 'mean' as const,
    }
    const recipe = recipeOf({ ...config(join(root, 'unused')), distributed, tensorboard: false })
    assert.deepEqual(recipe.distributed, { worldSize: 2, bnStats: 'mean' })
    for (const key of ['store', 'out', 'tensorboard']) assert.equal(key in recipe, false, key)
  })
})

describe('train options', () => {
  it('early stopping ends the run as completed once the valid AUC stops improving', async () => {
    const out = join(root, 'run-early')
    // At a vanishing learning rate only batch-norm statistics move, so the AUC soon stalls.
    const result = await train({ ...config(out), lr: 1e-12, epochs: 8, earlyStop: 2 })
    assert.ok(result.completed)
    const epochs = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length
    assert.ok(epochs >= 3 && epochs < 8, `${epochs} epochs ran`)
  })

  it('label smoothing, gradient clipping and SGD train too', async () => {
    const result = await train({
      ...config(join(root, 'run-sgd')),
      labelSmoothing: 0.1,
      clipGrad: 1,
      opt: 'sgd',
      lr: 0.05,
    })
    assert.ok(result.completed)
    assert.ok(result.bestAuc > 0.8, `best valid AUC ${result.bestAuc}`)
  })
})

describe('eval of a trained run', () => {
  it('reproduces the best valid AUC of training, and runs with 8-way TTA', async () => {
    const { evaluate } = await import('../../src/eval/evaluate.js')
    const out = join(root, 'run-a')
    const best = Math.max(...readHistory(out).map((l) => l.auc))
    const { evaluation: plain } = await evaluate({
      run: out,
      store,
      split: 'valid',
      tta: false,
      threshold: { kind: 'fixed', value: 0.5 },
    })
    assert.equal(plain.thresholdFrom, 'this split')
    assert.ok(Math.abs(plain.rocAuc - best) < 1e-6, `eval ${plain.rocAuc} vs training ${best}`)
    assert.equal(plain.patches, 32)
    assert.equal(plain.tp + plain.fp + plain.tn + plain.fn, 32)
    const { evaluation: tta } = await evaluate({
      run: out,
      store,
      split: 'valid',
      tta: true,
      threshold: { kind: 'youden' },
    })
    assert.ok(tta.rocAuc > 0.5 && tta.rocAucLow <= tta.rocAuc && tta.rocAuc <= tta.rocAucHigh)
    // A subset of the symmetries: [0] is the plain prediction, all eight are --tta.
    const views = async (tta: number[] | boolean) =>
      (
        await evaluate({
          run: out,
          store,
          split: 'valid',
          tta,
          threshold: { kind: 'fixed', value: 0.5 },
        })
      ).probabilities
    assert.deepEqual(await views([0]), await views(false))
    assert.deepEqual(await views([0, 1, 2, 3, 4, 5, 6, 7]), await views(true))
    assert.notDeepEqual(await views([0, 4]), await views(false))
    await assert.rejects(views([0, 8]), /distinct symmetries in 0\.\.7/)
    // By default the run's own threshold: Youden's on the valid split at the best epoch, which
    // the same predictions reproduce.
    const own = await evaluate({ run: out, store, split: 'valid', tta: false, threshold: null })
    const runConfig = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    assert.equal(own.evaluation.thresholdFrom, 'run')
    assert.equal(own.evaluation.threshold, runConfig.threshold.value)
    const again = await evaluate({
      run: out,
      store,
      split: 'valid',
      tta: false,
      threshold: { kind: 'youden' },
    })
    assert.ok(Math.abs(again.evaluation.threshold - runConfig.threshold.value) < 1e-6)
    await assert.rejects(
      () =>
        evaluate({
          run: join(root, 'nowhere'),
          store,
          split: 'valid',
          tta: false,
          threshold: { kind: 'youden' },
        }),
      /config\.json not found: is .*nowhere a run folder written by "pcam train"\?/,
    )
  })
})

describe('predict', { skip: skipWithoutData }, () => {
  it('writes one Kaggle row per TIFF of the Kaggle sample, with the ids Kaggle expects', async () => {
    const { predictFiles, kaggleCsv } = await import('../../src/eval/predict-files.js')
    const { predictions, threshold } = await predictFiles({
      run: join(root, 'run-a'),
      sources: [join(KAGGLE_SAMPLE, 'train')],
      tta: false,
      // Kaggle's 96px patches on this 16px run: only libtorch resizes (ONNX Runtime refuses).
      engine: 'libtorch',
    })
    assert.equal(
      threshold,
      JSON.parse(readFileSync(join(root, 'run-a', 'config.json'), 'utf8')).threshold.value,
    )
    const csv = kaggleCsv(predictions).trim().split('\n')
    assert.equal(csv[0], 'id,label')
    assert.equal(csv.length, 1501)
    const ids = new Set(
      readdirSync(join(KAGGLE_SAMPLE, 'train')).map((f) => f.replace(/\.tif$/, '')),
    )
    for (const row of csv.slice(1)) {
      const [id, p] = row.split(',')
      assert.ok(ids.has(id!), `unexpected id ${id}`)
      assert.ok(Number(p) >= 0 && Number(p) <= 1)
      ids.delete(id!)
    }
    assert.equal(ids.size, 0)
  })
})

describe('predict image files', () => {
  it('predicts single image files, ids from their names, as from their folder', async () => {
    const { predictFiles } = await import('../../src/eval/predict-files.js')
    const files = ['p1.png', 'p3.png'].map((f) => join(root, 'src', 'valid', '1', f))
    const { predictions } = await predictFiles({
      run: join(root, 'run-a'),
      sources: files,
      tta: false,
    })
    assert.deepEqual(
      predictions.map((p) => p.id),
      ['p1', 'p3'],
    )
    const all = await predictFiles({
      run: join(root, 'run-a'),
      sources: [join(root, 'src', 'valid', '1')],
      tta: false,
    })
    for (const p of predictions) {
      const same = all.predictions.find((q) => q.id === p.id)!
      assert.ok(Math.abs(same.probability - p.probability) < 1e-6, p.id)
    }
  })
})

describe('Grad-CAM on a trained run', () => {
  it('gives finite heatmaps in [0, 1] of the input size', async () => {
    const { loadRun } = await import('../../src/run/load-run.js')
    const { gradCam } = await import('../../src/eval/gradcam.js')
    const { prepareBatch } = await import('../../src/data/augment.js')
    const { PatchStore } = await import('../../src/data/store.js')
    const t = await import('../../src/torch/index.js')
    const { model, config } = loadRun(join(root, 'run-a'))
    const patches = PatchStore.open(store)
    const positives = patches
      .indicesOf('valid')
      .filter((i) => patches.label(i) === 1)
      .slice(0, 4)
    const { images } = patches.gather(t.tensor(BigInt64Array.from(positives, BigInt)))
    const x = prepareBatch(images, { size: 16, normalization: config.normalization })
    const heat = gradCam(model, x)
    assert.deepEqual(heat.shape, [4, 16, 16])
    assert.ok(heat.isfinite().logicalNot().sum().item() === 0)
    assert.ok(heat.min().item() >= 0 && heat.max().item() <= 1)
    patches.dispose()
  })
})

describe('explain', () => {
  it('writes patch | overlay PNGs with the probability, and names an unreadable image', async () => {
    const { explainImages } = await import('../../src/eval/explain.js')
    const sharp = (await import('sharp')).default
    const image = join(root, 'src', 'valid', '1', 'p1.png')
    const out = join(root, 'explained')
    const [result] = await explainImages({ run: join(root, 'run-a'), images: [image], out })
    assert.ok(result!.probability >= 0 && result!.probability <= 1)
    const meta = await sharp(result!.output).metadata()
    assert.deepEqual([meta.width, meta.height], [2 * 16 * 2, 16 * 2])
    const broken = join(root, 'broken.png')
    writeFileSync(broken, 'not an image')
    await assert.rejects(
      explainImages({ run: join(root, 'run-a'), images: [broken], out }),
      /Cannot read .*broken\.png/,
    )
  })
})

describe('bench predict', () => {
  it('measures plain and TTA prediction rates of a run', async () => {
    const { benchPredict } = await import('../../src/bench/predict.js')
    const result = await benchPredict({
      run: join(root, 'run-a'),
      store,
      patches: 64,
      batchSize: 16,
    })
    assert.equal(result.patches, 64)
    assert.ok(result.plainPatchesPerSec > 0 && result.ttaPatchesPerSec > 0)
    for (const engine of [result.libtorch_patches_s, result.onnxruntime_patches_s])
      assert.ok(engine.plain > 0 && engine.tta > 0 && engine.plain > engine.tta)
  })
})
