// Ops and their gradients against PyTorch on identical inputs, on one device: every op the layers
// use, each with inputs and the same computation as a PyTorch expression. Run on the CPU by
// test/parity/ops.test.ts and on a GPU by test/gpu/ops.test.ts (make test-gpu).
import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import * as t from '../../src/torch/index.js'
import type { Device, Tensor } from '../../src/torch/index.js'
import { assertClose, runReference, type Result } from '../helpers/torch-reference.js'

interface OpCase {
  name: string
  inputs: Record<string, Tensor>
  pcam: (i: Record<string, Tensor>) => Tensor
  expr: string
  grad?: string[]
  atol?: number
}

t.manualSeed(1234)
const r = (...shape: number[]) => t.randn(shape)
const pos = (...shape: number[]) => t.rand(shape).add(0.5)
const labels = (n: number, classes: number) => t.randint(0, classes, [n])

const cases: OpCase[] = [
  {
    name: 'add',
    inputs: { a: r(3, 4), b: r(4) },
    pcam: (i) => i.a!.add(i.b!),
    expr: 'a + b',
    grad: ['a', 'b'],
  },
  {
    name: 'sub',
    inputs: { a: r(3, 4), b: r(3, 4) },
    pcam: (i) => i.a!.sub(i.b!),
    expr: 'a - b',
    grad: ['a', 'b'],
  },
  {
    name: 'mul',
    inputs: { a: r(2, 3), b: r(2, 3) },
    pcam: (i) => i.a!.mul(i.b!),
    expr: 'a * b',
    grad: ['a', 'b'],
  },
  {
    name: 'div',
    inputs: { a: r(5), b: pos(5) },
    pcam: (i) => i.a!.div(i.b!),
    expr: 'a / b',
    grad: ['a', 'b'],
  },
  { name: 'pow', inputs: { a: pos(5) }, pcam: (i) => i.a!.pow(2.5), expr: 'a ** 2.5', grad: ['a'] },
  { name: 'exp', inputs: { a: r(5) }, pcam: (i) => i.a!.exp(), expr: 'torch.exp(a)', grad: ['a'] },
  {
    name: 'log',
    inputs: { a: pos(5) },
    pcam: (i) => i.a!.log(),
    expr: 'torch.log(a)',
    grad: ['a'],
  },
  {
    name: 'sqrt',
    inputs: { a: pos(5) },
    pcam: (i) => i.a!.sqrt(),
    expr: 'torch.sqrt(a)',
    grad: ['a'],
  },
  {
    name: 'sigmoid',
    inputs: { a: r(6) },
    pcam: (i) => t.sigmoid(i.a!),
    expr: 'torch.sigmoid(a)',
    grad: ['a'],
  },
  {
    name: 'tanh',
    inputs: { a: r(6) },
    pcam: (i) => i.a!.tanh(),
    expr: 'torch.tanh(a)',
    grad: ['a'],
  },
  {
    name: 'relu',
    inputs: { a: r(4, 5) },
    pcam: (i) => t.relu(i.a!),
    expr: 'F.relu(a)',
    grad: ['a'],
  },
  {
    name: 'relu6',
    inputs: { a: r(4, 5).mul(5) },
    pcam: (i) => t.relu6(i.a!),
    expr: 'F.relu6(a)',
    grad: ['a'],
  },
  {
    // bfloat16 (mixed precision) goes another way: hardtanh has no bfloat16 backward here.
    name: 'relu6 in bfloat16',
    inputs: { a: r(4, 5).mul(5) },
    pcam: (i) => t.relu6(i.a!.to('bfloat16')).float(),
    expr: 'torch.clamp(a.bfloat16(), 0, 6).float()',
    grad: ['a'],
  },
  {
    name: 'relu6 in bfloat16 without gradients',
    inputs: { a: r(4, 5).mul(5) },
    pcam: (i) => t.noGrad(() => t.relu6(i.a!.to('bfloat16')).float()),
    expr: 'torch.clamp(a.bfloat16(), 0, 6).float()',
  },
  {
    name: 'clamp',
    inputs: { a: r(10) },
    pcam: (i) => i.a!.clamp(-0.5, 0.7),
    expr: 'torch.clamp(a, -0.5, 0.7)',
    grad: ['a'],
  },
  {
    name: 'maximum',
    inputs: { a: r(7), b: r(7) },
    pcam: (i) => i.a!.maximum(i.b!),
    expr: 'torch.maximum(a, b)',
    grad: ['a', 'b'],
  },
  {
    name: 'matmul 2-D',
    inputs: { a: r(3, 5), b: r(5, 4) },
    pcam: (i) => i.a!.matmul(i.b!),
    expr: 'a @ b',
    grad: ['a', 'b'],
  },
  {
    name: 'matmul batched',
    inputs: { a: r(2, 3, 5), b: r(5, 4) },
    pcam: (i) => i.a!.matmul(i.b!),
    expr: 'torch.matmul(a, b)',
    grad: ['a', 'b'],
  },
  {
    name: 'linear',
    inputs: { x: r(6, 5), w: r(3, 5), b: r(3) },
    pcam: (i) => t.linear(i.x!, i.w!, i.b!),
    expr: 'F.linear(x, w, b)',
    grad: ['x', 'w', 'b'],
  },
  {
    name: 'sum over dims',
    inputs: { a: r(2, 3, 4) },
    pcam: (i) => i.a!.sum([0, 2], true),
    expr: 'a.sum(dim=(0, 2), keepdim=True)',
    grad: ['a'],
  },
  {
    name: 'mean',
    inputs: { a: r(2, 3, 4) },
    pcam: (i) => i.a!.mean(1),
    expr: 'a.mean(dim=1)',
    grad: ['a'],
  },
  {
    name: 'amax',
    inputs: { a: r(3, 4) },
    pcam: (i) => i.a!.max(1),
    expr: 'torch.amax(a, dim=1)',
    grad: ['a'],
  },
  {
    name: 'std',
    inputs: { a: r(3, 8) },
    pcam: (i) => i.a!.std(1),
    expr: 'a.std(dim=1)',
    grad: ['a'],
  },
  {
    name: 'var all',
    inputs: { a: r(3, 8) },
    pcam: (i) => i.a!.var(),
    expr: 'a.var()',
    grad: ['a'],
  },
  {
    name: 'logsumexp',
    inputs: { a: r(3, 8) },
    pcam: (i) => i.a!.logsumexp(1),
    expr: 'torch.logsumexp(a, dim=1)',
    grad: ['a'],
  },
  {
    name: 'permute + reshape',
    inputs: { a: r(2, 3, 4) },
    pcam: (i) => i.a!.permute(2, 0, 1).reshape(4, -1),
    expr: 'a.permute(2, 0, 1).reshape(4, -1)',
    grad: ['a'],
  },
  {
    name: 'slice with step',
    inputs: { a: r(10, 3) },
    pcam: (i) => i.a!.slice(0, 1, 9, 3),
    expr: 'a[1:9:3]',
    grad: ['a'],
  },
  {
    name: 'indexSelect',
    inputs: { a: r(6, 3), idx: t.tensor([4, 0, 4, 2], { dtype: 'int64' }) },
    pcam: (i) => i.a!.indexSelect(0, i.idx!),
    expr: 'torch.index_select(a, 0, idx)',
    grad: ['a'],
  },
  {
    name: 'cat',
    inputs: { a: r(2, 3), b: r(4, 3) },
    pcam: (i) => t.cat([i.a!, i.b!], 0),
    expr: 'torch.cat([a, b], 0)',
    grad: ['a', 'b'],
  },
  {
    name: 'stack',
    inputs: { a: r(2, 3), b: r(2, 3) },
    pcam: (i) => t.stack([i.a!, i.b!], 1),
    expr: 'torch.stack([a, b], 1)',
    grad: ['a', 'b'],
  },
  {
    name: 'flip',
    inputs: { a: r(2, 3, 4) },
    pcam: (i) => i.a!.flip(1, 2),
    expr: 'torch.flip(a, [1, 2])',
    grad: ['a'],
  },
  {
    name: 'rot90',
    inputs: { a: r(2, 3, 4, 5) },
    pcam: (i) => i.a!.rot90(1, [2, 3]),
    expr: 'torch.rot90(a, 1, [2, 3])',
    grad: ['a'],
  },
  {
    name: 'rot90 k=3',
    inputs: { a: r(1, 1, 3, 4) },
    pcam: (i) => i.a!.rot90(3, [2, 3]),
    expr: 'torch.rot90(a, 3, [2, 3])',
  },
  {
    name: 'conv2d stride 1 padding 1',
    inputs: { x: r(2, 3, 9, 9), w: r(4, 3, 3, 3) },
    pcam: (i) => t.conv2d(i.x!, i.w!, null, { padding: 1 }),
    expr: 'F.conv2d(x, w, padding=1)',
    grad: ['x', 'w'],
  },
  {
    name: 'conv2d stride 2 with bias',
    inputs: { x: r(2, 3, 10, 9), w: r(5, 3, 3, 3), b: r(5) },
    pcam: (i) => t.conv2d(i.x!, i.w!, i.b!, { stride: 2 }),
    expr: 'F.conv2d(x, w, b, stride=2)',
    grad: ['x', 'w', 'b'],
  },
  {
    name: 'conv2d asymmetric padding (TensorFlow "same" at stride 2)',
    inputs: { x: r(1, 3, 8, 8), w: r(4, 3, 3, 3) },
    pcam: (i) => t.conv2d(i.x!, i.w!, null, { stride: 2, padding: [0, 1, 0, 1] }),
    expr: 'F.conv2d(F.pad(x, (0, 1, 0, 1)), w, stride=2)',
    grad: ['x', 'w'],
  },
  {
    name: 'conv2d dilation 2',
    inputs: { x: r(1, 2, 11, 11), w: r(3, 2, 3, 3) },
    pcam: (i) => t.conv2d(i.x!, i.w!, null, { dilation: 2, padding: [2, 1] }),
    expr: 'F.conv2d(x, w, dilation=2, padding=(2, 1))',
    grad: ['x', 'w'],
  },
  {
    name: 'conv2d groups 2',
    inputs: { x: r(2, 4, 7, 7), w: r(6, 2, 3, 3) },
    pcam: (i) => t.conv2d(i.x!, i.w!, null, { groups: 2, padding: 1 }),
    expr: 'F.conv2d(x, w, groups=2, padding=1)',
    grad: ['x', 'w'],
  },
  {
    name: 'conv2d depthwise',
    inputs: { x: r(2, 4, 8, 8), w: r(4, 1, 3, 3) },
    pcam: (i) => t.conv2d(i.x!, i.w!, null, { groups: 4, padding: 1, stride: 2 }),
    expr: 'F.conv2d(x, w, groups=4, padding=1, stride=2)',
    grad: ['x', 'w'],
  },
  {
    name: 'conv2d channels-last input',
    inputs: { x: r(2, 3, 9, 9), w: r(4, 3, 3, 3) },
    pcam: (i) =>
      t.conv2d(i.x!.contiguous('channelsLast'), i.w!.contiguous('channelsLast'), null, {
        padding: 1,
      }),
    expr: 'F.conv2d(x, w, padding=1)',
    grad: ['x', 'w'],
  },
  {
    name: 'batchNorm training (updates running statistics)',
    inputs: { x: r(4, 3, 5, 5), rm: r(3), rv: pos(3), w: r(3), b: r(3) },
    pcam: (i) =>
      t.batchNorm(i.x!, i.rm!, i.rv!, { weight: i.w!, bias: i.b!, training: true, momentum: 0.2 }),
    expr: 'F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.2)',
    grad: ['x', 'w', 'b'],
  },
  {
    name: 'batchNorm eval',
    inputs: { x: r(4, 3, 5, 5), rm: r(3), rv: pos(3), w: r(3), b: r(3) },
    pcam: (i) => t.batchNorm(i.x!, i.rm!, i.rv!, { weight: i.w!, bias: i.b!, eps: 1e-3 }),
    expr: 'F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-3)',
    grad: ['x', 'w', 'b'],
  },
  {
    name: 'maxPool2d k3 s2 p1',
    inputs: { x: r(2, 3, 9, 9) },
    pcam: (i) => t.maxPool2d(i.x!, 3, { stride: 2, padding: 1 }),
    expr: 'F.max_pool2d(x, 3, stride=2, padding=1)',
    grad: ['x'],
  },
  {
    name: 'maxPool2d ceil mode',
    inputs: { x: r(1, 2, 7, 7) },
    pcam: (i) => t.maxPool2d(i.x!, 2, { ceilMode: true }),
    expr: 'F.max_pool2d(x, 2, ceil_mode=True)',
    grad: ['x'],
  },
  {
    name: 'avgPool2d without padded zeros',
    inputs: { x: r(1, 2, 7, 7) },
    pcam: (i) => t.avgPool2d(i.x!, 3, { stride: 2, padding: 1, countIncludePad: false }),
    expr: 'F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)',
    grad: ['x'],
  },
  {
    name: 'adaptiveAvgPool2d to 1',
    inputs: { x: r(2, 3, 6, 5) },
    pcam: (i) => t.adaptiveAvgPool2d(i.x!, 1),
    expr: 'F.adaptive_avg_pool2d(x, 1)',
    grad: ['x'],
  },
  {
    name: 'adaptiveAvgPool2d to 3x2',
    inputs: { x: r(1, 2, 7, 5) },
    pcam: (i) => t.adaptiveAvgPool2d(i.x!, [3, 2]),
    expr: 'F.adaptive_avg_pool2d(x, (3, 2))',
    grad: ['x'],
  },
  {
    name: 'adaptiveMaxPool2d to 1',
    inputs: { x: r(2, 3, 6, 5) },
    pcam: (i) => t.adaptiveMaxPool2d(i.x!, 1),
    expr: 'F.adaptive_max_pool2d(x, 1)',
    grad: ['x'],
  },
  {
    name: 'interpolate nearest',
    inputs: { x: r(1, 2, 4, 5) },
    pcam: (i) => t.interpolate(i.x!, [8, 7]),
    expr: 'F.interpolate(x, size=(8, 7), mode="nearest")',
    grad: ['x'],
  },
  {
    name: 'interpolate bilinear',
    inputs: { x: r(1, 2, 4, 5) },
    pcam: (i) => t.interpolate(i.x!, 9, { mode: 'bilinear' }),
    expr: 'F.interpolate(x, size=(9, 9), mode="bilinear", align_corners=False)',
    grad: ['x'],
  },
  {
    name: 'interpolate bilinear align corners',
    inputs: { x: r(1, 2, 4, 5) },
    pcam: (i) => t.interpolate(i.x!, [3, 11], { mode: 'bilinear', alignCorners: true }),
    expr: 'F.interpolate(x, size=(3, 11), mode="bilinear", align_corners=True)',
    grad: ['x'],
  },
  {
    name: 'interpolate bicubic',
    inputs: { x: r(1, 1, 5, 5) },
    pcam: (i) => t.interpolate(i.x!, 8, { mode: 'bicubic' }),
    expr: 'F.interpolate(x, size=(8, 8), mode="bicubic", align_corners=False)',
  },
  {
    name: 'pad reflect',
    inputs: { x: r(1, 2, 4, 4) },
    pcam: (i) => t.pad(i.x!, [1, 2, 2, 1], { mode: 'reflect' }),
    expr: 'F.pad(x, (1, 2, 2, 1), mode="reflect")',
    grad: ['x'],
  },
  {
    name: 'softmax',
    inputs: { x: r(3, 5) },
    pcam: (i) => t.softmax(i.x!, 1),
    expr: 'F.softmax(x, dim=1)',
    grad: ['x'],
  },
  {
    name: 'logSoftmax',
    inputs: { x: r(3, 5) },
    pcam: (i) => t.logSoftmax(i.x!, -1),
    expr: 'F.log_softmax(x, dim=-1)',
    grad: ['x'],
  },
  {
    name: 'bceWithLogits with posWeight',
    inputs: { x: r(8, 1), y: t.randint(0, 2, [8, 1]).float(), pw: t.tensor([2.5]) },
    pcam: (i) => t.bceWithLogits(i.x!, i.y!, { posWeight: i.pw! }),
    expr: 'F.binary_cross_entropy_with_logits(x, y, pos_weight=pw)',
    grad: ['x'],
  },
  {
    name: 'bceWithLogits reduction none',
    inputs: { x: r(8).mul(20), y: t.rand([8]) },
    pcam: (i) => t.bceWithLogits(i.x!, i.y!, { reduction: 'none' }),
    expr: 'F.binary_cross_entropy_with_logits(x, y, reduction="none")',
    grad: ['x'],
  },
  {
    name: 'crossEntropy with label smoothing',
    inputs: { x: r(6, 4), y: labels(6, 4) },
    pcam: (i) => t.crossEntropy(i.x!, i.y!, { labelSmoothing: 0.1 }),
    expr: 'F.cross_entropy(x, y, label_smoothing=0.1)',
    grad: ['x'],
  },
  {
    name: 'crossEntropy with class weights, sum',
    inputs: { x: r(6, 3), y: labels(6, 3), cw: pos(3) },
    pcam: (i) => t.crossEntropy(i.x!, i.y!, { weight: i.cw!, reduction: 'sum' }),
    expr: 'F.cross_entropy(x, y, weight=cw, reduction="sum")',
    grad: ['x'],
  },
  {
    name: 'mseLoss',
    inputs: { x: r(5, 2), y: r(5, 2) },
    pcam: (i) => t.mseLoss(i.x!, i.y!),
    expr: 'F.mse_loss(x, y)',
    grad: ['x'],
  },
]

/**
 * Every case on `device` against PyTorch on the same device. GPU kernels sum in another order
 * (and cuDNN convolutions may use TF32 on both sides), so there `slack` widens the tolerances.
 */
export function describeOpParity(
  device: Device,
  slack: { atol: number; rtol: number } | null = null,
  skip: string | false = false,
): void {
  const tolerance = (atol: number) =>
    slack ? { atol: Math.max(atol, slack.atol), rtol: slack.rtol } : { atol }
  // Fresh copies on the device for every run: ops such as batch norm update inputs in place.
  const onDevice = (inputs: Record<string, Tensor>) =>
    Object.fromEntries(
      Object.entries(inputs).map(([k, v]) => [k, device === 'cpu' ? v.clone() : v.to(device)]),
    )
  const toCpu = (x: Tensor) => (x.device === 'cpu' ? x : t.keep(x.to('cpu')))

  describe(`ops match PyTorch on ${device} (outputs and gradients)`, { skip }, () => {
    let reference: Result[]
    let upstream: Tensor[]

    before(() => {
      upstream = cases.map((c) => {
        const out = t.noGrad(() => c.pcam(onDevice(c.inputs)))
        const shape = out.shape
        out.dispose()
        return t.randn(shape)
      })
      reference = runReference(
        cases.map((c, k) => ({
          expr: c.expr,
          inputs: c.inputs,
          grad: c.grad,
          gradOutput: upstream[k],
        })),
        1,
        device,
      )
    })

    for (const [k, c] of cases.entries()) {
      it(c.name, () => {
        const inputs = onDevice(c.inputs)
        for (const name of c.grad ?? []) inputs[name]!.requiresGrad_()
        const out = c.pcam(inputs)
        assert.equal(out.device, device, `${c.name} output device`)
        const expected = reference[k]!
        assertClose(toCpu(out), expected.outputs[0]!, {
          what: `${c.name} output`,
          ...tolerance(c.atol ?? 1e-5),
        })
        for (const [name, value] of Object.entries(expected.inputsAfter))
          assertClose(toCpu(inputs[name]!.detach()), value, {
            what: `${c.name} ${name} after the op`,
            ...tolerance(1e-5),
          })
        if (c.grad?.length) {
          const seed = upstream[k]!
          out.backward(device === 'cpu' ? seed : t.keep(seed.to(device)))
          for (const name of c.grad) {
            const grad = inputs[name]!.grad
            if (grad === null) throw new Error(`${c.name}: no gradient for ${name}`)
            assertClose(toCpu(grad), expected.grads[name]!, {
              what: `${c.name} d/d${name}`,
              ...tolerance(1e-4),
            })
          }
        }
      })
    }
  })
}
