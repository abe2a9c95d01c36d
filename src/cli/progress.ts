/**
 * A progress bar on stderr: redrawn in place on a terminal (rate and ETA), one line every few
 * seconds otherwise (CI logs, pipes).
 * @module
 */

export interface Progress {
  update(done: number, total?: number, note?: string): void
  finish(note?: string): void
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--'
  const s = Math.round(seconds)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const pad = (n: number) => String(n).padStart(2, '0')
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`
}

/** A rate with the digits it needs: 9022/s, 12.5/s, 0.42/s (never a rounded-away "0/s"). */
export function formatRate(perSecond: number): string {
  if (perSecond >= 100) return perSecond.toFixed(0)
  if (perSecond >= 1) return perSecond.toFixed(1)
  return perSecond.toPrecision(2)
}

export function createProgress(
  label: string,
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  const started = performance.now()
  const tty = stream.isTTY === true
  let lastPrint = 0
  let current = 0
  let size = total
  // The rate is measured from the first update on: work done before it (a resumed epoch, the
  // set-up before the first batch) would make the first figure meaningless.
  let baseline: { at: number; done: number } | null = null
  const line = (note = '') => {
    const now = performance.now()
    const span = baseline ? (now - baseline.at) / 1000 : 0
    const rate =
      baseline && span >= 0.5 && current > baseline.done ? (current - baseline.done) / span : 0
    const fraction = size > 0 ? Math.min(current / size, 1) : 0
    const width = 24
    const filled = Math.round(fraction * width)
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`
    const eta = rate > 0 ? (size - current) / rate : Infinity
    const speed = rate > 0 ? `${formatRate(rate)}/s` : '--/s'
    const text = `${label} ${bar} ${(fraction * 100).toFixed(0).padStart(3)}% ${current}/${size} ${speed}`
    return `${text} ETA ${clock(eta)}${note ? ` ${note}` : ''}`
  }
  return {
    update(done, newTotal, note) {
      current = done
      if (newTotal !== undefined) size = newTotal
      const now = performance.now()
      baseline ??= { at: now, done }
      if (tty && now - lastPrint > 100) {
        stream.write(`\r${line(note)}\x1b[K`)
        lastPrint = now
      } else if (!tty && now - lastPrint > 5000) {
        stream.write(`${line(note)}\n`)
        lastPrint = now
      }
    },
    finish(note) {
      const elapsed = (performance.now() - started) / 1000
      stream.write(
        `${tty ? '\r' : ''}${label} done: ${current} in ${clock(elapsed)}${note ? ` ${note}` : ''}${tty ? '\x1b[K' : ''}\n`,
      )
    },
  }
}

/** An AbortSignal that fires on Ctrl-C (SIGINT) or SIGTERM while fn runs; a second Ctrl-C exits. */
export async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130)
    process.stderr.write('\nStopping after the current step (Ctrl-C again to quit at once)...\n')
    controller.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    return await fn(controller.signal)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
