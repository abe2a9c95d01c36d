// ONNX export of every architecture and head: each file passes ONNX's own checker (Debian's
// python3-onnx, full_check), and ONNX Runtime's probabilities on real PCam patches equal pcam's
// (libtorch) within 1e-4, plain and with test-time augmentation, at the patch size and upsampled.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { runPythonJson } from '../../src/bench/python.js'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { decodePatch } from '../../src/data/decode.js'
import { KERAS_NORMALIZATION, prepareBatch } from '../../src/data/augment.js'
import { inputOptions, predictImages } from '../../src/eval/predict.js'
import { loadRun } from '../../src/run/load-run.js'
import type { RunConfig } from '../../src/run/run-folder.js'
import { exportOnnx } from '../../src/export/export.js'
import { openPredictor } from '../../src/eval/predictor.js'
import { ARCHITECTURES, type HeadKind } from '../../src/models/registry.js'
import * as t from '../../src/torch/index.js'
import { makeRandomRun } from '../helpers/random-run.js'
import { PCAM_JPEG, skipWithoutData } from '../helpers/shared-data.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('onnx')
let patches: t.Tensor

/** 12 real validation patches, 6 of each class, as N x 96 x 96 x 3 uint8. */
async function realPatches(): Promise<t.Tensor> {
  const pixels: Buffer[] = []
  for (const label of ['0', '1']) {
    const folder = join(PCAM_JPEG, 'valid', label)
    for (const file of readdirSync(folder).sort().slice(0, 6))
      pixels.push((await decodePatch(readFileSync(join(folder, file)))).pixels)
  }
  return t.tensor(new Uint8Array(Buffer.concat(pixels)), { shape: [pixels.length, 96, 96, 3] })
}

/** max |a - b| over two equal-length arrays. */
function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length)
  return Math.max(...a.map((v, i) => Math.abs(v - (b[i] as number))))
}

/**
 * How far pcam's own float32 forward is from the same network in float64 on the patches: the
 * rounding noise of the network itself. A deep network with random weights can be conditioned
 * badly enough (resnet50, mobilenet_v2) that this alone passes 1e-4.
 */
function float32Noise(run: string): number {
  const { model, config } = loadRun(run)
  try {
    const single = t.noGrad(() => predictImages(model, patches, inputOptions(config)))
    t.noGrad(() => {
      for (const p of [...model.parameters(), ...model.buffers()])
        if (p.dtype === 'float32') p.setData_(t.scope(() => p.to('float64')))
    })
    const double = t.noGrad(() =>
      t.scope(() => {
        const x = prepareBatch(patches, {
          size: config.inputSize,
          normalization: config.normalization,
        }).to('float64')
        return model.forward(x).reshape(-1).sigmoid().data() as Float64Array
      }),
    )
    return Math.max(...Array.from(single, (v, i) => Math.abs(v - (double[i] as number))))
  } finally {
    model.dispose()
  }
}

/** Both engines on the same patches; returns the largest difference. */
async function compareEngines(run: string, tta: boolean): Promise<number> {
  const reference = await openPredictor(run, 'libtorch')
  const onnx = await openPredictor(run, 'onnxruntime')
  try {
    const p = await reference.predict(patches, tta)
    const q = await onnx.predict(patches, tta)
    // The weights are scaled so probabilities spread out: a wrong graph cannot pass by saturation.
    assert.ok(
      p.filter((v) => v > 0.05 && v < 0.95).length >= 3,
      `probabilities saturated: ${Array.from(p).join(', ')}`,
    )
    return maxDiff(p, q)
  } finally {
    reference.dispose()
    onnx.dispose()
  }
}

describe('ONNX export', { skip: skipWithoutData }, () => {
  before(async () => {
    patches = await realPatches()
  })
  after(() => patches?.dispose())

  const cases: { arch: (typeof ARCHITECTURES)[number]; head: HeadKind }[] = ARCHITECTURES.flatMap(
    (arch) => (['concat', 'linear'] as const).map((head) => ({ arch, head })),
  )
  const exported: string[] = []

  for (const { arch, head } of cases) {
    it(`${arch} with a ${head} head: ONNX Runtime gives pcam's probabilities within 1e-4`, async () => {
      const run = join(root, `${arch}-${head}`)
      const normalization = arch === 'mobilenet_v1' ? KERAS_NORMALIZATION : undefined
      await makeRandomRun(run, { arch, head, numClasses: 1 }, patches, { normalization })
      const out = join(run, 'model.onnx')
      exportOnnx(run, out)
      exported.push(out)
      const diff = await compareEngines(run, false)
      // Within 1e-4, or, where pcam's own float32 rounding is larger, within twice that: a wrong
      // graph is off by orders of magnitude more.
      const noise = diff < 1e-4 ? 0 : float32Noise(run)
      assert.ok(diff < Math.max(1e-4, 2 * noise), `max difference ${diff} (float32 noise ${noise})`)
    })
  }

  it('passes onnx.checker.check_model(full_check=True) for every architecture and head', () => {
    assert.equal(exported.length, cases.length, 'every export above must have run')
    const script = join(PACKAGE_ROOT, 'test', 'export', 'onnx_check.py')
    const reply = runPythonJson(script, { paths: exported }) as {
      path: string
      opset: number
      elem_type: number
      dims: unknown[]
      metadata: Record<string, string>
    }[]
    assert.deepEqual(
      reply.map((r) => r.path),
      exported,
    )
    for (const { opset, elem_type: elemType, dims, metadata } of reply) {
      assert.ok(opset >= 17)
      assert.equal(elemType, 2, 'uint8 input')
      assert.deepEqual(dims, ['N', 96, 96, 3])
      assert.deepEqual(JSON.parse(metadata.classes as string), ['0', '1'])
      assert.equal(metadata.threshold, '0.42')
      assert.equal(metadata.input_size, '96')
      assert.ok(metadata.normalization && metadata.um_per_px && metadata.pcam_version)
    }
  })

  it("the export guide's Python lines load the exported weights into torchvision by name and give pcam's probabilities", async () => {
    const script = join(PACKAGE_ROOT, 'test', 'export', 'readme_python.py')
    const raw = join(root, 'patches.u8')
    writeFileSync(raw, patches.data() as Uint8Array)
    for (const arch of ['resnet18', 'mobilenet_v2']) {
      const run = join(root, `${arch}-linear`)
      const reference = await openPredictor(run, 'libtorch')
      const ours = await reference.predict(patches, false)
      reference.dispose()
      const reply = runPythonJson(script, {
        readme: join(PACKAGE_ROOT, 'docs/export.md'),
        path: join(run, 'model.onnx'),
        patches: raw,
        shape: patches.shape,
      }) as { p: number[]; missing: string[] }
      assert.ok(
        reply.missing.every((k) => k.endsWith('num_batches_tracked')),
        `not loaded: ${reply.missing.join(', ')}`,
      )
      const diff = maxDiff(ours, Float32Array.from(reply.p))
      const noise = diff < 1e-4 ? 0 : float32Noise(run)
      assert.ok(
        diff < Math.max(1e-4, 2 * noise),
        `${arch}: max difference ${diff} (float32 noise ${noise})`,
      )
    }
  })

  it('averages the 8 symmetries as pcam does (TTA), within 1e-4', async () => {
    const diff = await compareEngines(join(root, 'resnet18-concat'), true)
    assert.ok(diff < 1e-4, `max difference ${diff}`)
  })

  for (const [arch, size] of [
    ['small', 128],
    ['mobilenet_v1', 112],
  ] as const) {
    it(`${arch} trained at ${size}px on 96px patches resizes inside the graph, within 1e-4`, async () => {
      const run = join(root, `${arch}-${size}`)
      await makeRandomRun(run, { arch, head: 'concat', numClasses: 1 }, patches, {
        inputSize: size,
      })
      const diff = await compareEngines(run, false)
      assert.ok(diff < 1e-4, `max difference ${diff}`)
    })
  }
})

describe('ONNX metadata', () => {
  it("carries the run's µm/px: recorded, implied by a PCam or Kaggle store, or unknown", async () => {
    const { onnxMetadata } = await import('../../src/export/export.js')
    const base = {
      model: { arch: 'small', numClasses: 1, head: 'linear' },
      classes: ['0', '1'],
      inputSize: 96,
      normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
      recipe: {},
    } as unknown as RunConfig
    const source = (kind: string) => ({ store: 's', source: { kind }, splitMethod: 'x' })
    assert.equal(onnxMetadata({ ...base, mpp: 0.5 }).um_per_px, '0.5')
    assert.equal(onnxMetadata({ ...base, data: source('kaggle') } as RunConfig).um_per_px, '0.972')
    assert.equal(
      onnxMetadata({ ...base, data: source('class-folders') } as RunConfig).um_per_px,
      'unknown',
    )
  })
})
