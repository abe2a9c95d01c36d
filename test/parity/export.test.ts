// A model trained by pcam loads into torchvision unchanged: train a resnet18 with a linear head for
// one epoch, load its torchvision.safetensors into torchvision.models.resnet18(num_classes=1)
// strictly, and compare eval outputs with pcam's own model.safetensors.
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runPythonJson } from '../../src/bench/python.js'
import { encodePng } from '../../src/data/decode.js'
import { prepareStore } from '../../src/data/prepare.js'
import { trainConfig } from '../../src/recipe/train-config.js'
import { train } from '../../src/recipe/train.js'
import { createModel } from '../../src/models/registry.js'
import * as t from '../../src/torch/index.js'
import { readSafetensors } from '../../src/weights/safetensors.js'
import {
  assertClose,
  decode,
  encode,
  PARITY_DIR,
  type EncodedTensor,
} from '../helpers/torch-reference.js'
import { tempDir } from '../helpers/temp-dir.js'

describe('export to torchvision', () => {
  it('a trained resnet18 with a linear head loads into torchvision and gives the same outputs', async () => {
    const root = tempDir('export')
    for (let i = 0; i < 64; i++) {
      const split = i < 48 ? 'train' : 'valid'
      mkdirSync(join(root, 'src', split, String(i % 2)), { recursive: true })
      const pixels = new Uint8Array(32 * 32 * 3)
        .fill(i % 2 ? 200 : 60)
        .map((v, k) => v + ((k * 7 + i) % 40))
      writeFileSync(
        join(root, 'src', split, String(i % 2), `p${i}.png`),
        await encodePng(pixels, 32, 32),
      )
    }
    await prepareStore({ sources: [join(root, 'src')], out: join(root, 'store'), split: null })
    const out = join(root, 'run')
    await train(
      trainConfig({
        store: join(root, 'store'),
        out,
        arch: 'resnet18',
        head: 'linear',
        batchSize: 16,
        epochs: 1,
        seed: 1,
        augment: null,
      }),
    )
    assert.ok(existsSync(join(out, 'torchvision.safetensors')))
    const model = createModel({ arch: 'resnet18', numClasses: 1, head: 'linear' })
    model.loadStateDict(readSafetensors(join(out, 'model.safetensors')).tensors)
    model.eval()
    const x = t.randn([2, 3, 32, 32])
    const ours = t.noGrad(() => model.forward(x))
    const reply = runPythonJson(join(PARITY_DIR, 'models_reference.py'), {
      arch: 'resnet18',
      numClasses: 1,
      weights: join(out, 'torchvision.safetensors'),
      x: encode(x),
      gradOutput: encode(t.ones([2, 1])),
    }) as { eval: EncodedTensor }
    assertClose(ours, decode(reply.eval), { what: 'torchvision output', atol: 1e-4, rtol: 1e-4 })
  })
})
