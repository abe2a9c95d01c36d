/**
 * Where a network runs and in which precision, chosen from the hardware: `--device` and
 * `--precision` of every command that runs one. bfloat16 pays only on units built for it (CPUs
 * with AVX512-BF16 or AMX-BF16, GPUs from compute capability 8.0); elsewhere on a CPU it is
 * emulated and many times slower than float32, and older GPUs get float16 with loss scaling.
 * @module
 */
import { ValidationError } from '../errors.js'
import {
  autocast,
  checkDevice,
  cpuFeatures,
  cudaBuild,
  cudaDeviceCount,
  cudaDeviceFacts,
  cudaIndex,
  type CudaDeviceFacts,
  type Device,
  type Dtype,
} from '../torch/index.js'

/** The precisions a network trains in: float32, or autocast to bfloat16 or float16. */
export const PRECISIONS = ['fp32', 'bf16', 'fp16'] as const
/** One of PRECISIONS; fp16 trains with dynamic loss scaling (GradScaler). */
export type Precision = (typeof PRECISIONS)[number]
/** What --precision takes: a precision, or auto to choose one from the hardware. */
export type PrecisionRequest = Precision | 'auto'
/** What --device takes: auto, cpu, cuda or cuda:N. */
export type DeviceRequest = Device | 'auto'
/** What --precision and --device ask of a command (undefined: auto). */
export interface ComputeRequest {
  /** The precision asked for, or auto to choose from the hardware. */
  precision?: PrecisionRequest
  /** The device asked for, or auto: the first GPU where there is one, else the CPU. */
  device?: DeviceRequest
  /**
   * A data-parallel rank's index on its machine (LOCAL_RANK): on GPUs it takes the localRank-th
   * GPU from the device asked for (rankDevice).
   */
  localRank?: number
}

/** The hardware facts a precision is chosen on (a CPU, or one GPU). */
export type ComputeTarget =
  { device: 'cpu'; bf16Units: boolean } | { device: `cuda:${number}`; gpu: CudaDeviceFacts }

/** Where and how a network computes, and why. */
export interface ComputePlan {
  /** The CPU, or one GPU by index. */
  device: 'cpu' | `cuda:${number}`
  /** The precision the network computes in there. */
  precision: Precision
  /** One line for config.json and the epoch table, e.g. "auto: this CPU has bf16 units". */
  reason: string
  /** Set when the choice will run far slower than another (bf16 forced on emulating hardware). */
  warning?: string
}

export function checkPrecision(value: unknown, option = '--precision'): PrecisionRequest {
  if (value === 'auto' || (PRECISIONS as readonly unknown[]).includes(value))
    return value as PrecisionRequest
  throw new ValidationError(
    `Expected auto, ${PRECISIONS.join(', ')} for ${option} but received "${String(value)}"`,
  )
}

/**
 * Whether this CPU has bfloat16 units. PCAM_CPU_BF16=0 or 1 overrides what CPUID says: to see
 * what a CPU without them would get, or for a hypervisor that hides a flag it honours.
 */
export function cpuHasBf16Units(): boolean {
  const override = process.env.PCAM_CPU_BF16
  if (override === '0' || override === '1') return override === '1'
  const f = cpuFeatures()
  return f.avx512Bf16 || f.amxBf16
}

/**
 * The device --device names on this machine: auto is the first GPU when libtorch has CUDA and
 * one is visible, else the CPU; cuda is cuda:0. A GPU that is not there is a one-line error
 * naming the fix.
 */
export function resolveDevice(request: DeviceRequest = 'auto'): ComputePlan['device'] {
  if (request === 'auto') return cudaBuild() && cudaDeviceCount() > 0 ? 'cuda:0' : 'cpu'
  const device = checkDevice(request)
  return device === 'cpu' ? 'cpu' : `cuda:${cudaIndex(device)}`
}

/**
 * The device of a machine's local rank, as torchrun scripts choose it: one GPU per rank,
 * counting from the one asked for (cuda:0 for auto or cuda); on the CPU every rank shares it.
 */
export function rankDevice(
  device: Device,
  localRank: number,
  visibleGpus = cudaDeviceCount(),
): 'cpu' | `cuda:${number}` {
  if (device === 'cpu') return device
  const first = cudaIndex(device)
  const index = first + localRank
  if (index >= visibleGpus)
    throw new ValidationError(
      `Local rank ${localRank} would take GPU cuda:${index}, but ${visibleGpus} GPU(s) are visible: one rank per GPU, so --nproc at most ${Math.max(0, visibleGpus - first)} from cuda:${first}.`,
    )
  return `cuda:${index}`
}

export function checkDeviceRequest(value: unknown): DeviceRequest {
  if (value === 'auto') return value
  if (value === 'cpu' || (typeof value === 'string' && /^cuda(:\d+)?$/.test(value)))
    return value as DeviceRequest
  throw new ValidationError(
    `Expected auto, cpu, cuda or cuda:N for --device but received "${String(value)}"`,
  )
}

/** The facts of a resolved device: the CPU's bf16 units, or the GPU's capability. */
export function computeTarget(device: ComputePlan['device']): ComputeTarget {
  if (device === 'cpu') return { device, bf16Units: cpuHasBf16Units() }
  const index = cudaIndex(device)
  const gpu = cudaDeviceFacts(index) ?? {
    // A driver that does not answer: assume an older GPU, whose float16 every GPU runs.
    name: `CUDA GPU ${index}`,
    major: 0,
    minor: 0,
    totalMemory: 0,
  }
  return { device, gpu }
}

const CPU_UNITS = 'bf16 units (AVX512-BF16 or AMX-BF16)'

/** What `auto` gives on a target, and why. */
function automatic(target: ComputeTarget): Omit<ComputePlan, 'device'> {
  if (target.device === 'cpu') {
    return target.bf16Units
      ? { precision: 'bf16', reason: `auto: this CPU has ${CPU_UNITS}` }
      : {
          precision: 'fp32',
          reason: `auto: this CPU has no ${CPU_UNITS}, where bf16 is emulated and many times slower`,
        }
  }
  const { name, major, minor } = target.gpu
  return major >= 8
    ? {
        precision: 'bf16',
        reason: `auto: ${name} (compute capability ${major}.${minor}) computes in bf16`,
      }
    : {
        precision: 'fp16',
        reason: `auto: ${name} (compute capability ${major}.${minor}) has no bf16 units; fp16 with dynamic loss scaling`,
      }
}

/** The precision for a request on a target: pure, so every rule is testable on any machine. */
export function choosePrecision(
  request: PrecisionRequest,
  target: ComputeTarget,
): Omit<ComputePlan, 'device'> {
  if (request === 'auto') return automatic(target)
  const reason = `asked for (--precision ${request})`
  if (target.device === 'cpu') {
    if (request === 'fp16')
      throw new ValidationError(
        "--precision fp16 is for CUDA GPUs: libtorch's CPU autocast computes in bf16 only. Use --precision auto (or fp32, bf16) on a CPU.",
      )
    if (request === 'bf16' && !target.bf16Units)
      return {
        precision: request,
        reason,
        warning: `bf16 on a CPU without ${CPU_UNITS}: libtorch emulates it, so this runs many times (about 20x) slower than fp32. Use --precision auto or fp32 unless you mean to.`,
      }
    return { precision: request, reason }
  }
  const { name, major, minor } = target.gpu
  if (request === 'bf16' && major < 8)
    return {
      precision: request,
      reason,
      warning: `bf16 on ${name} (compute capability ${major}.${minor}, before 8.0) is emulated and slow; --precision auto gives fp16 with loss scaling.`,
    }
  return { precision: request, reason }
}

/**
 * The device and precision for a request on this machine; a choice that will crawl (bf16 forced
 * where it is emulated) is said on stderr, once a process.
 */
export function computePlan(
  precision: PrecisionRequest = 'auto',
  device: DeviceRequest = 'auto',
): ComputePlan {
  const resolved = resolveDevice(device)
  const plan = { device: resolved, ...choosePrecision(precision, computeTarget(resolved)) }
  warnOnce(plan)
  return plan
}

/**
 * The plan for predicting with a run trained in `trained`: auto keeps a float32 run in float32
 * (its threshold was chosen on float32 outputs) and gives a mixed-precision run the hardware's
 * own choice, so a bf16 run predicts in float32 where bf16 would crawl.
 */
export function inferencePlan(
  trained: Precision,
  precision: PrecisionRequest = 'auto',
  device: DeviceRequest = 'auto',
): ComputePlan {
  if (precision !== 'auto' || trained !== 'fp32') return computePlan(precision, device)
  return {
    device: resolveDevice(device),
    precision: 'fp32',
    reason: 'auto: the run trained in fp32',
  }
}

/** The autocast dtype of a precision (null: no autocast). */
export function autocastDtype(precision: Precision): Dtype | null {
  return precision === 'bf16' ? 'bfloat16' : precision === 'fp16' ? 'float16' : null
}

/** Runs fn, a forward pass, under the plan's autocast (plainly for fp32). */
export function underAutocast<T>(plan: { precision: Precision; device: Device }, fn: () => T): T {
  const dtype = autocastDtype(plan.precision)
  if (dtype === null) return fn()
  return autocast(fn, { deviceType: plan.device === 'cpu' ? 'cpu' : 'cuda', dtype })
}

/** Warnings already printed, so each shows once a process. */
const warned = new Set<string>()

/** Prints a plan's warning to stderr, once a process. */
function warnOnce(plan: Pick<ComputePlan, 'warning'>): void {
  if (!plan.warning || warned.has(plan.warning)) return
  warned.add(plan.warning)
  process.stderr.write(`Warning: ${plan.warning}\n`)
}

/** A run's training precision as its config.json records it (runs before --precision: mixedPrecision). */
export function recordedPrecision(recipe: {
  precision?: unknown
  mixedPrecision?: unknown
}): Precision {
  if ((PRECISIONS as readonly unknown[]).includes(recipe.precision))
    return recipe.precision as Precision
  return recipe.mixedPrecision === true ? 'bf16' : 'fp32'
}
