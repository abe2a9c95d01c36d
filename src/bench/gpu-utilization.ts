/**
 * How busy a GPU was while a benchmark ran, as `nvidia-smi` samples it (every 100 ms): a loader
 * that cannot keep the GPU fed shows up here before it shows up in images/s. Samples carry
 * nvidia-smi's own timestamps, so a window can be measured in a process that blocks the event
 * loop meanwhile (the PyTorch peer runs under spawnSync).
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

/** One sample: when (ms since the epoch) and the GPU's utilisation then (percent). */
export interface UtilizationSample {
  time: number
  percent: number
}

/**
 * A line of `nvidia-smi --query-gpu=timestamp,utilization.gpu --format=csv,noheader,nounits`,
 * e.g. "2026/12/07 22:50:01.123, 87" (local time), or null for anything else.
 */
export function parseUtilizationLine(line: string): UtilizationSample | null {
  const match =
    /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{3}),\s*(\d+(?:\.\d+)?)\s*$/.exec(
      line.trim(),
    )
  if (!match) return null
  const [y, mo, d, h, mi, s, ms, percent] = match.slice(1).map(Number) as number[]
  const time = new Date(y!, mo! - 1, d!, h!, mi!, s!, ms!).getTime()
  return { time, percent: percent! }
}

/** The mean utilisation of the samples inside [from, to] (ms since the epoch), or null if none. */
export function meanUtilization(
  samples: readonly UtilizationSample[],
  windows: readonly (readonly [number, number])[],
): number | null {
  const inside = samples.filter((s) => windows.some(([from, to]) => s.time >= from && s.time <= to))
  if (inside.length === 0) return null
  return inside.reduce((sum, s) => sum + s.percent, 0) / inside.length
}

/** Samples one GPU's utilisation until stopped. */
export class UtilizationSampler {
  /** The samples so far, oldest first. */
  readonly samples: UtilizationSample[] = []
  #child: ChildProcess
  #closed: Promise<void>

  private constructor(child: ChildProcess) {
    this.#child = child
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      const sample = parseUtilizationLine(line)
      if (sample) this.samples.push(sample)
    })
    this.#closed = new Promise((resolve) => lines.once('close', () => resolve()))
  }

  /**
   * Starts nvidia-smi for GPU `index`; null when it cannot run (no NVIDIA driver tools), so a
   * benchmark reports no utilisation rather than failing.
   */
  static async start(index: number): Promise<UtilizationSampler | null> {
    const child = spawn(
      'nvidia-smi',
      [
        '--query-gpu=timestamp,utilization.gpu',
        '--format=csv,noheader,nounits',
        '-i',
        String(index),
        '-lms',
        '100',
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    )
    const started = await new Promise<boolean>((resolve) => {
      child.once('spawn', () => resolve(true))
      child.once('error', () => resolve(false))
    })
    return started ? new UtilizationSampler(child) : null
  }

  /** Stops sampling; resolves once every sample nvidia-smi wrote has been read. */
  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null)
      this.#child.kill('SIGTERM')
    await this.#closed
  }
}
