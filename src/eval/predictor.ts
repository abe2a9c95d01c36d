/**
 * The inference engines behind one interface: a PatchPredictor turns uint8 patches into the
 * positive class's probabilities, with libtorch (the run's model.safetensors) or ONNX Runtime
 * (the run's model.onnx, exported once into the run folder). Whatever predicts (predict, eval,
 * serve, slides) opens one with openPredictor() and calls predict() per batch. Grad-CAM needs
 * gradients and stays on libtorch. An ensemble's predictor averages its members' (each opened as
 * the ordinary run it is, on the same engine).
 * @module
 */
import type { PatchStore } from '../data/store.js'
import { ValidationError } from '../errors.js'
import { ensureRunOnnx, type LoadedRun } from '../export/export.js'
import type { OnnxPredictor } from '../export/onnx-engine.js'
import type { PatchClassifier } from '../models/registry.js'
import { noGrad, scope, setCudnnBenchmark, tensor, type Tensor } from '../torch/index.js'
import { inputOptions, predictImages, type PredictOptions } from './predict.js'
import { loadRun } from '../run/load-run.js'
import { memberDirs } from '../run/ensemble.js'
import { readRunConfig, type RunConfig } from '../run/run-folder.js'
import type { Tta } from '../data/tta.js'
import {
  inferencePlan,
  rankDevice,
  recordedPrecision,
  type ComputePlan,
  type ComputeRequest,
} from '../learn/precision.js'

/** The inference engines, as `--engine` names them. */
export const ENGINES = ['libtorch', 'onnxruntime'] as const
/** An inference engine: libtorch (model.safetensors) or onnxruntime (model.onnx). */
export type Engine = (typeof ENGINES)[number]

/** The device and precision a run predicts in, for a request on this machine. */
export function predictionPlan(config: RunConfig, request: ComputeRequest = {}): ComputePlan {
  const plan = inferencePlan(recordedPrecision(config.recipe), request.precision, request.device)
  return request.localRank ? { ...plan, device: rankDevice(plan.device, request.localRank) } : plan
}

/**
 * The engine that measured faster for the precision predicted in (`pcam bench predict`; README,
 * "Models outside pcam"): libtorch for bf16 and fp16 (ONNX Runtime runs the float32 graph) and
 * on a GPU (onnxruntime-node here is its CPU build), ONNX Runtime for float32 on a CPU.
 */
export function defaultEngine(plan: Pick<ComputePlan, 'device' | 'precision'>): Engine {
  return plan.device === 'cpu' && plan.precision === 'fp32' ? 'onnxruntime' : 'libtorch'
}

/**
 * The engine for a plan: the one asked for, else the default. ONNX Runtime asked for runs its
 * float32 graph on the CPU, which an automatic precision gives way to and an explicit one not.
 */
function engineFor(engine: Engine | undefined, plan: ComputePlan, compute: ComputeRequest): Engine {
  if (engine !== 'onnxruntime') return engine ?? defaultEngine(plan)
  if (plan.device !== 'cpu')
    throw new ValidationError(
      `ONNX Runtime runs on the CPU here; --device ${plan.device} needs --engine libtorch`,
    )
  if (plan.precision !== 'fp32' && (compute.precision ?? 'auto') !== 'auto')
    throw new ValidationError(
      `--precision ${plan.precision} is libtorch mixed precision; ONNX Runtime runs the float32 graph. Add --engine libtorch, or --precision fp32.`,
    )
  return engine
}

export function checkEngine(value: unknown): Engine {
  if (!(ENGINES as readonly unknown[]).includes(value))
    throw new ValidationError(
      `Expected ${ENGINES.join(' or ')} for --engine but received "${String(value)}"`,
    )
  return value as Engine
}

/** A run's patch probabilities, whichever engine computes them; openPredictor() opens one. */
export interface PatchPredictor {
  /** The engine that computes the probabilities. */
  readonly engine: Engine
  /** The run's config.json (for an ensemble, the ensemble's). */
  readonly config: RunConfig
  /**
   * Probabilities of the positive class for N x H x W x 3 uint8 patches (the caller keeps and
   * disposes `images`), averaged over the TTA views.
   */
  predict(images: Tensor, tta?: Tta): Promise<Float32Array>
  /** Frees what the predictor holds (model, session, an ensemble's members). */
  dispose(): void
}

/** libtorch: the run's PatchClassifier in eval mode, on the plan's device and precision. */
export class LibtorchPredictor implements PatchPredictor {
  readonly engine = 'libtorch'
  readonly #input: PredictOptions
  readonly #ownsModel: boolean

  /**
   * `plan` defaults to predictionPlan(config) (auto); the model moves to its device. With
   * `ownsModel` false, dispose() leaves the model to the caller that loaded it.
   */
  constructor(
    readonly model: PatchClassifier,
    readonly config: RunConfig,
    options: { plan?: ComputePlan; ownsModel?: boolean } = {},
  ) {
    const plan = options.plan ?? predictionPlan(config)
    if (plan.device !== 'cpu') {
      model.to(plan.device)
      // Batches have one size (but the last): cuDNN searches its algorithms once per shape.
      setCudnnBenchmark(true)
    }
    this.#input = { ...inputOptions(config), precision: plan.precision, device: plan.device }
    this.#ownsModel = options.ownsModel ?? true
  }
  predict(images: Tensor, tta: Tta = false): Promise<Float32Array> {
    return Promise.resolve(noGrad(() => predictImages(this.model, images, { ...this.#input, tta })))
  }
  dispose(): void {
    if (this.#ownsModel) this.model.dispose()
  }
}

/**
 * An ensemble's predictor: the mean of its members' probabilities (each averaged over the TTA
 * views first, which gives the same mean). `config` is the ensemble's (its threshold was chosen
 * on the averaged valid probabilities); each member keeps its own.
 */
export class EnsemblePredictor implements PatchPredictor {
  readonly engine: Engine

  /** Takes ownership of the members: dispose() disposes them. */
  constructor(
    readonly members: readonly PatchPredictor[],
    readonly config: RunConfig,
  ) {
    if (members.length === 0) throw new ValidationError('An ensemble needs at least one member')
    this.engine = (members[0] as PatchPredictor).engine
  }

  /** Each member's probabilities, in the members' order. */
  async predictMembers(images: Tensor, tta: Tta = false): Promise<Float32Array[]> {
    const each: Float32Array[] = []
    for (const member of this.members) each.push(await member.predict(images, tta))
    return each
  }

  async predict(images: Tensor, tta: Tta = false): Promise<Float32Array> {
    return meanOf(await this.predictMembers(images, tta))
  }

  dispose(): void {
    for (const member of this.members) member.dispose()
  }
}

/** The element-wise mean of equal-length arrays (summed in float64). */
export function meanOf(arrays: readonly Float32Array[]): Float32Array {
  const n = (arrays[0] as Float32Array).length
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    let sum = 0
    for (const a of arrays) sum += a[i] as number
    out[i] = sum / arrays.length
  }
  return out
}

/** Opens each member with `open`; on a failure, those already open are disposed. */
async function openMembers(
  count: number,
  open: (index: number) => Promise<PatchPredictor>,
): Promise<PatchPredictor[]> {
  const members: PatchPredictor[] = []
  try {
    for (let i = 0; i < count; i++) members.push(await open(i))
  } catch (error) {
    for (const m of members) m.dispose()
    throw error
  }
  return members
}

/** ONNX Runtime on the run's model.onnx, exported first (from `loaded` when given) if needed. */
async function openOnnx(
  run: string,
  config: RunConfig,
  loaded?: LoadedRun,
): Promise<OnnxPredictor> {
  let path: string
  try {
    path = ensureRunOnnx(run, loaded)
  } catch (error) {
    // Here the user chose the engine, so here is where the other one is offered.
    if (error instanceof ValidationError)
      throw new ValidationError(`${error.message}. Use --engine libtorch for it.`, { cause: error })
    throw error
  }
  // Loaded on first use: ONNX Runtime's native library is large, and libtorch predictions (every
  // GPU one among them) never need it.
  const { OnnxPredictor: Onnx } = await import('../export/onnx-engine.js')
  return Onnx.open(path, config)
}

/**
 * Opens a run with the chosen engine (default: defaultEngine of its plan), in the precision and
 * on the device `compute` asks for (auto: predictionPlan's choice). ONNX Runtime runs the float32
 * graph on the CPU.
 */
export async function openPredictor(
  run: string,
  engine: Engine | undefined = undefined,
  compute: ComputeRequest = {},
): Promise<PatchPredictor> {
  const config = readRunConfig(run)
  const members = memberDirs(run, config)
  if (members.length > 0) {
    const opened = await openMembers(members.length, (i) =>
      openPredictor(members[i] as string, engine, compute),
    )
    return new EnsemblePredictor(opened, config)
  }
  const plan = predictionPlan(config, compute)
  if (engineFor(engine, plan, compute) === 'onnxruntime') return openOnnx(run, config)
  return new LibtorchPredictor(loadRun(run).model, config, { plan })
}

/**
 * A predictor for a run whose models are already loaded (for Grad-CAM, which needs libtorch):
 * libtorch predicts with those models, ONNX Runtime exports them when model.onnx is missing or
 * stale, so the run is never loaded twice. The caller keeps `loaded.models` and disposes the
 * predictor too.
 */
export async function predictorFor(
  run: string,
  loaded: LoadedRun,
  engine: Engine | undefined = undefined,
  compute: ComputeRequest = {},
): Promise<PatchPredictor> {
  const { members } = loaded
  if (members) {
    const opened = await openMembers(members.length, (i) => {
      const { dir, config } = members[i] as { dir: string; config: RunConfig }
      const member = { models: [loaded.models[i] as PatchClassifier], config }
      return predictorFor(dir, member, engine, compute)
    })
    return new EnsemblePredictor(opened, loaded.config)
  }
  const model = loaded.models[0] as PatchClassifier
  const plan = predictionPlan(loaded.config, compute)
  if (engineFor(engine, plan, compute) === 'onnxruntime')
    return openOnnx(run, loaded.config, loaded)
  return new LibtorchPredictor(model, loaded.config, { plan, ownsModel: false })
}

/** Probabilities of the positive class for the stored patches at `indices`, in batches. */
export async function predictStoreWith(
  predictor: PatchPredictor,
  store: PatchStore,
  indices: number[],
  options: {
    batchSize?: number
    tta?: Tta
    onProgress?: (done: number, total: number) => void
  } = {},
): Promise<Float32Array> {
  const { batchSize = 128, tta = false } = options
  const out = new Float32Array(indices.length)
  for (let start = 0; start < indices.length; start += batchSize) {
    const idx = tensor(BigInt64Array.from(indices.slice(start, start + batchSize), BigInt))
    const images = scope(() => store.gather(idx).images)
    idx.dispose()
    try {
      out.set(await predictor.predict(images, tta), start)
    } finally {
      images.dispose()
    }
    options.onProgress?.(Math.min(start + batchSize, indices.length), indices.length)
  }
  return out
}
