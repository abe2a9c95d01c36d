// The ONNX Runtime engine in the commands that predict: eval gives the same metrics as libtorch,
// the run's model.onnx is exported once and reused, and bad input (a corrupted or foreign .onnx,
// patches of another size, a model ONNX cannot express) is refused with the file's name.
import assert from 'node:assert/strict'
import { rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { PatchStore } from '../../src/data/store.js'
import { evaluateToFolder } from '../../src/eval/artifacts.js'
import { openPredictor } from '../../src/eval/predictor.js'
import { exportOnnx, onnxModel, runOnnxPath } from '../../src/export/export.js'
import { loadRun } from '../../src/run/load-run.js'
import { GraphBuilder, layer } from '../../src/export/onnx-graph.js'
import { encodeModel } from '../../src/export/onnx-proto.js'
import { AvgPool2d } from '../../src/nn/index.js'
import * as t from '../../src/torch/index.js'
import { valueInfo } from '../helpers/onnx-model.js'
import { makeRandomRun } from '../helpers/random-run.js'
import { makeSyntheticStore } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('engine')
let store = ''
const run = join(root, 'run')

describe('the onnxruntime engine', () => {
  before(async () => {
    store = await makeSyntheticStore(root)
    const opened = PatchStore.open(store)
    const idx = t.tensor(BigInt64Array.from([...Array(32).keys()], BigInt))
    const { images } = opened.gather(idx)
    await makeRandomRun(run, { arch: 'resnet18', head: 'concat', numClasses: 1 }, images)
    images.dispose()
    opened.dispose()
  })

  it('eval --engine onnxruntime gives the same metrics as libtorch, TTA included', async () => {
    for (const tta of [false, true]) {
      const evaluate = (engine: 'libtorch' | 'onnxruntime') =>
        evaluateToFolder({
          run,
          store,
          split: 'valid',
          tta,
          threshold: null,
          engine,
          topLosses: 0,
          dir: join(root, `eval-${engine}-${tta}`),
        })
      const a = (await evaluate('libtorch')).result
      const b = (await evaluate('onnxruntime')).result
      assert.equal(b.evaluation.engine, 'onnxruntime')
      const diff = Math.max(...a.probabilities.map((p, i) => Math.abs(p - b.probabilities[i]!)))
      assert.ok(diff < 1e-4, `max difference ${diff}`)
      for (const key of ['rocAuc', 'accuracy', 'sensitivity', 'specificity'] as const)
        assert.ok(Math.abs(a.evaluation[key] - b.evaluation[key]) < 1e-6, key)
    }
  })

  it('picks the faster engine for the precision predicted in when none is named', async () => {
    // The run trained in float32: ONNX Runtime; predicting it in bf16 (--precision bf16): libtorch.
    const plain = await openPredictor(run, undefined, { device: 'cpu' })
    const bf16 = await openPredictor(run, undefined, { precision: 'bf16', device: 'cpu' })
    try {
      assert.equal(plain.engine, 'onnxruntime')
      assert.equal(bf16.engine, 'libtorch')
    } finally {
      plain.dispose()
      bf16.dispose()
    }
    // An explicit mixed precision cannot run on ONNX Runtime's float32 graph.
    await assert.rejects(
      openPredictor(run, 'onnxruntime', { precision: 'bf16' }),
      /--precision bf16 is libtorch mixed precision.*--engine libtorch/,
    )
  })

  it('exports model.onnx into the run once and reuses it', async () => {
    const path = runOnnxPath(run)
    const before = statSync(path).mtimeMs
    const predictor = await openPredictor(run, 'onnxruntime')
    predictor.dispose()
    assert.equal(statSync(path).mtimeMs, before)
  })

  it('refuses patches of another size, naming the file', async () => {
    const predictor = await openPredictor(run, 'onnxruntime')
    const images = t.zeros([2, 24, 24, 3], { dtype: 'uint8' })
    try {
      await assert.rejects(predictor.predict(images), (error: Error) => {
        assert.equal(error.name, 'DataError')
        assert.match(error.message, /model\.onnx takes 16x16 RGB patches but received 24x24x3/)
        return true
      })
    } finally {
      images.dispose()
      predictor.dispose()
    }
  })

  it('refuses a corrupted model.onnx and a foreign one, naming the file', async () => {
    const path = runOnnxPath(run)
    const future = new Date(Date.now() + 60_000)
    writeFileSync(path, Buffer.from('\x08\x07\x12\xff\xffnot a model at all'))
    utimesSync(path, future, future)
    await assert.rejects(openPredictor(run, 'onnxruntime'), (error: Error) => {
      assert.equal(error.name, 'DataError')
      assert.ok(error.message.startsWith(`${path} is not an ONNX model`), error.message)
      return true
    })
    // A valid ONNX model that pcam did not write (an identity on floats, no pcam metadata).
    const vi = (name: string) => ({
      name,
      type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }] } } },
    })
    writeFileSync(
      path,
      encodeModel({
        irVersion: 8,
        opsetImport: [{ domain: '', version: 17 }],
        producerName: 'elsewhere',
        producerVersion: '1',
        graph: {
          name: 'identity',
          node: [{ name: 'n', opType: 'Identity', input: ['x'], output: ['y'], attribute: [] }],
          initializer: [],
          input: [vi('x')],
          output: [vi('y')],
        },
        metadataProps: [],
      }),
    )
    utimesSync(path, future, future)
    await assert.rejects(openPredictor(run, 'onnxruntime'), (error: Error) => {
      assert.match(error.message, /is not a model exported by pcam/)
      assert.ok(error.message.includes(path))
      return true
    })
  })

  it('refuses class metadata that is not a list of names and outputs that are not probabilities', async () => {
    const path = runOnnxPath(run)
    const patch = (await loadRun(run)).config
    const size = patch.patchSize ?? patch.inputSize
    const future = new Date(Date.now() + 60_000)
    const int64s = (name: string, values: number[]) => {
      const raw = new BigInt64Array(values.map(BigInt))
      return { name, dims: [values.length], dataType: 7, rawData: new Uint8Array(raw.buffer) }
    }
    const info = valueInfo
    // pcam's metadata and input, but uint8 "probabilities": two pixel values per patch.
    const model = (classes: string) =>
      encodeModel({
        irVersion: 8,
        opsetImport: [{ domain: '', version: 17 }],
        producerName: 'crafted',
        producerVersion: '1',
        graph: {
          name: 'pixels',
          node: [
            {
              name: 's',
              opType: 'Slice',
              input: ['images', 'starts', 'ends', 'axes'],
              output: ['corner'],
              attribute: [],
            },
            {
              name: 'r',
              opType: 'Reshape',
              input: ['corner', 'shape'],
              output: ['probabilities'],
              attribute: [],
            },
          ],
          initializer: [
            int64s('starts', [0, 0, 0]),
            int64s('ends', [1, 1, 2]),
            int64s('axes', [1, 2, 3]),
            int64s('shape', [-1, 2]),
          ],
          input: [info('images', 2, ['N', size, size, 3])],
          output: [info('probabilities', 2, ['N', 2])],
        },
        metadataProps: [
          { key: 'pcam_version', value: '0.1.0' },
          { key: 'patch_size', value: String(size) },
          { key: 'classes', value: classes },
        ],
      })
    writeFileSync(path, model('normal, tumor'))
    utimesSync(path, future, future)
    await assert.rejects(openPredictor(run, 'onnxruntime'), (error: Error) => {
      assert.equal(error.name, 'DataError')
      assert.match(error.message, /"classes" metadata is not a JSON list/)
      assert.ok(error.message.includes(path), error.message)
      return true
    })
    writeFileSync(path, model('["normal","tumor"]'))
    utimesSync(path, future, future)
    const predictor = await openPredictor(run, 'onnxruntime')
    const images = t.full([2, size, size, 3], 227, { dtype: 'uint8' })
    await assert.rejects(predictor.predict(images), (error: Error) => {
      assert.equal(error.name, 'DataError')
      assert.match(error.message, /outputs uint8, not float32 probabilities/)
      assert.ok(error.message.includes(path), error.message)
      return true
    })
    images.dispose()
    predictor.dispose()
    rmSync(path) // later tests export the run's model anew
  })

  it('exporting leaves as many live native tensors as before, resizing graph included', async () => {
    // An input size above the patch size adds the resize matrices to the graph.
    const resized = join(root, 'resized')
    const opened = PatchStore.open(store)
    const idx = t.tensor(BigInt64Array.from([...Array(8).keys()], BigInt))
    const { images } = opened.gather(idx)
    await makeRandomRun(resized, { arch: 'small', head: 'concat', numClasses: 1 }, images, {
      inputSize: 24,
    })
    images.dispose()
    idx.dispose()
    opened.dispose()
    for (const dir of [run, resized]) {
      const loaded = loadRun(dir)
      try {
        const before = t.memoryStats().liveTensors
        onnxModel(loaded.model, loaded.config)
        exportOnnx(dir, join(root, 'leak.onnx'))
        assert.equal(t.memoryStats().liveTensors, before, dir)
      } finally {
        loaded.model.dispose()
      }
    }
  })

  it('names a layer that ONNX export cannot express', () => {
    const g = new GraphBuilder()
    assert.throws(
      () => layer(g, new AvgPool2d(2), { name: 'x', shape: [3, 8, 8] }),
      /AvgPool2d has no ONNX exporter in pcam/,
    )
  })
})
