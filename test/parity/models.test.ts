// Architectures against torchvision on the same weights: pcam writes its (randomly initialised)
// weights as safetensors, torchvision loads them strictly; eval outputs, training outputs, every
// gradient and the updated batch-norm statistics must agree.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runPythonJson } from '../../src/bench/python.js'
import { mobilenetV2 } from '../../src/models/mobilenet-v2.js'
import { resnet18, resnet34, resnet50 } from '../../src/models/resnet.js'
import type { Module } from '../../src/nn/index.js'
import * as t from '../../src/torch/index.js'
import { writeSafetensors } from '../../src/weights/safetensors.js'
import {
  assertClose,
  decode,
  encode,
  PARITY_DIR,
  type EncodedTensor,
} from '../helpers/torch-reference.js'
import { tempDir } from '../helpers/temp-dir.js'

const work = tempDir('models')
type Classifier = Module & { forward(x: t.Tensor): t.Tensor }

async function compare(
  arch: string,
  model: Classifier,
  numClasses: number,
  size: number,
  kwargs = {},
): Promise<void> {
  t.manualSeed(11)
  const x = t.randn([2, 3, size, size])
  const weights = join(work, `${arch}.safetensors`)
  await writeSafetensors(weights, model.stateDict())
  const gradOutput = t.randn([2, numClasses])
  const reply = runPythonJson(join(PARITY_DIR, 'models_reference.py'), {
    arch,
    numClasses,
    weights,
    kwargs,
    x: encode(x),
    gradOutput: encode(gradOutput),
  }) as {
    eval: EncodedTensor
    train: EncodedTensor
    grads: Record<string, EncodedTensor>
    state: Record<string, EncodedTensor>
  }

  model.eval()
  const evalOut = t.noGrad(() => model.forward(x))
  assertClose(evalOut, decode(reply.eval), { what: `${arch} eval output`, atol: 1e-4, rtol: 1e-4 })
  model.train()
  const trainOut = model.forward(x)
  assertClose(trainOut, decode(reply.train), {
    what: `${arch} train output`,
    atol: 1e-4,
    rtol: 1e-4,
  })
  trainOut.backward(gradOutput)
  let checked = 0
  for (const [name, p] of model.namedParameters()) {
    const expected = decode(reply.grads[name]!)
    const scale = Math.max(expected.abs().max().item(), 1e-6)
    assertClose(p.grad!, expected, {
      what: `${arch} gradient of ${name}`,
      atol: 1e-4 * scale,
      rtol: 1e-3,
    })
    checked++
  }
  assert.equal(checked, Object.keys(reply.grads).length)
  for (const [name, value] of model.stateDict()) {
    assertClose(value.detach(), decode(reply.state[name]!), {
      what: `${arch} ${name} after a training forward`,
      atol: 1e-4,
    })
  }
}

describe('architectures match torchvision', () => {
  it('resnet18: outputs, gradients and batch-norm statistics', async () => {
    t.manualSeed(1)
    await compare('resnet18', resnet18(10), 10, 64)
  })
  it('resnet34', async () => {
    t.manualSeed(2)
    await compare('resnet34', resnet34(3), 3, 32)
  })
  it('resnet50 (bottleneck blocks)', async () => {
    t.manualSeed(3)
    await compare('resnet50', resnet50(5), 5, 32)
  })
  it('mobilenet_v2 (inverted residuals, depthwise convolutions, ReLU6)', async () => {
    t.manualSeed(4)
    // Dropout off on both sides: its random masks cannot match between two libraries.
    await compare('mobilenet_v2', mobilenetV2(4, { dropout: 0 }), 4, 64, { dropout: 0 })
  })
})
