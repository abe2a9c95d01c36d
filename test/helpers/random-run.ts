/**
 * A run folder (config.json + model.safetensors) with random weights for any architecture and
 * head, without training: random batch-norm statistics and affine parameters (so exporting them
 * matters), and the last linear layer rescaled so the logits on the given patches are centred with
 * a spread of about 2 (probabilities between 0 and 1, not all saturated: parity tests can fail).
 * @module
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { IMAGENET_NORMALIZATION, prepareBatch, type Normalization } from '../../src/data/augment.js'
import { writeRunConfig, type RunConfig } from '../../src/run/run-folder.js'
import { saveModel } from '../../src/learn/checkpoint.js'
import { createModel, type ModelSpec } from '../../src/models/registry.js'
import { BatchNorm1d, BatchNorm2d, Linear } from '../../src/nn/index.js'
import * as t from '../../src/torch/index.js'
import { PCAM_VERSION } from '../../src/version.js'

export async function makeRandomRun(
  dir: string,
  spec: ModelSpec,
  sample: t.Tensor,
  options: { patchSize?: number; inputSize?: number; normalization?: Normalization } = {},
): Promise<RunConfig> {
  const patchSize = options.patchSize ?? (sample.shape[1] as number)
  const config: RunConfig = {
    model: spec,
    classes: ['0', '1'],
    patchSize,
    inputSize: options.inputSize ?? patchSize,
    normalization: options.normalization ?? IMAGENET_NORMALIZATION,
    recipe: { precision: 'fp32' },
    threshold: { rule: 'youden', value: 0.42, chosenOn: 'valid', stage: 'random', epoch: 0 },
  }
  t.manualSeed(11)
  const model = createModel(spec)
  const input = prepareBatch(sample, {
    size: config.inputSize,
    normalization: config.normalization,
  })
  try {
    const replacements = new Map<string, t.Tensor>()
    for (const [name, module] of model.namedModules()) {
      if (module instanceof BatchNorm1d || module instanceof BatchNorm2d) {
        const c = module.numFeatures
        replacements.set(`${name}.weight`, t.rand([c]).mul(0.4).add(0.8))
        replacements.set(`${name}.bias`, t.randn([c]).mul(0.05))
      }
    }
    const state = new Map(model.stateDict())
    for (const [k, v] of replacements) state.set(k, v)
    model.loadStateDict(state)
    for (const v of replacements.values()) v.dispose()
    // Running statistics measured on the sample (one training-mode pass, cumulative average),
    // so the random network neither explodes nor collapses (ReLU6 would clip it to constants).
    for (const module of model.modules())
      if (module instanceof BatchNorm1d || module instanceof BatchNorm2d) {
        ;(module as { momentum: number | null }).momentum = null
        module.numBatchesTracked?.zero_()
      }
    model.train()
    t.noGrad(() =>
      t.scope(() => {
        model.forward(input)
      }),
    )
    model.eval()
    // Centre and scale the logits: last layer's weight and bias become (w, b - m) * 2 / s.
    const fc = [...model.head.children()].at(-1) as Linear
    const logits = t.noGrad(() => t.scope(() => model.forward(input).toArray()))
    const mean = logits.reduce((a, b) => a + b, 0) / logits.length
    const sd = Math.sqrt(logits.reduce((a, b) => a + (b - mean) ** 2, 0) / logits.length) || 1
    const fcName = [...model.namedModules()].find(([, m]) => m === fc)![0]
    const weight = fc.weight.mul(2 / sd)
    const bias = fc.bias!.sub(mean).mul(2 / sd)
    const state2 = new Map(model.stateDict())
    state2.set(`${fcName}.weight`, weight)
    state2.set(`${fcName}.bias`, bias)
    model.loadStateDict(state2)
    weight.dispose()
    bias.dispose()
    mkdirSync(dir, { recursive: true })
    await saveModel(join(dir, 'model.safetensors'), model)
    await writeRunConfig(dir, { pcamVersion: PCAM_VERSION, ...config })
    return config
  } finally {
    input.dispose()
    model.dispose()
  }
}

/**
 * A run of the small CNN with random weights on 96 px patches, for tests of slide machinery
 * (not of the model): `mpp` is recorded in its config.json, or left out when null.
 */
export async function makeRandomSlideRun(dir: string, mpp: number | null): Promise<RunConfig> {
  const sample = t.randint(0, 256, [8, 96, 96, 3], { dtype: 'uint8' })
  try {
    const config = await makeRandomRun(
      dir,
      { arch: 'small', head: 'concat', numClasses: 1 },
      sample,
    )
    if (mpp === null) return config
    await writeRunConfig(dir, { pcamVersion: PCAM_VERSION, ...config, mpp })
    return { ...config, mpp }
  } finally {
    sample.dispose()
  }
}
