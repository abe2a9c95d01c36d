/**
 * Argument checks shared by src/torch and src/nn. Each throws a ValidationError that says what
 * was expected and what was received.
 * @module
 */
import { ValidationError } from '../errors.js'

function describe(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(describe).join(', ')}] (array)`
  return `${String(value)} (${typeof value})`
}

export function invalid(expected: string, name: string, value: unknown): ValidationError {
  return new ValidationError(`Expected ${expected} for ${name} but received ${describe(value)}`)
}

/** Returns `value` if it is an integer in [min, max], else throws a ValidationError. */
export function checkInteger(
  value: unknown,
  name: string,
  min = -Infinity,
  max = Infinity,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const what = Number.isFinite(max)
      ? `integer in [${min}, ${max}]`
      : min === 1
        ? 'positive integer'
        : min === 0
          ? 'non-negative integer'
          : 'integer'
    throw invalid(what, name, value)
  }
  return value
}

/** Returns `value` if it is a number (not NaN) in [min, max], else throws a ValidationError. */
export function checkNumber(value: unknown, name: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
    const range = Number.isFinite(min) || Number.isFinite(max) ? ` in [${min}, ${max}]` : ''
    throw invalid(`number${range}`, name, value)
  }
  return value
}

/** Returns `value` if it is an array of non-negative integers, else throws a ValidationError. */
export function checkShape(value: unknown, name = 'shape'): number[] {
  if (!Array.isArray(value) || !value.every((d) => Number.isInteger(d) && d >= 0)) {
    throw invalid('an array of non-negative integers', name, value)
  }
  return value as number[]
}

/** Expands a number to a pair, as PyTorch's `_pair` does for kernel sizes, strides and padding. */
export function pair(value: number | readonly number[], name: string, min = 0): [number, number] {
  const values = typeof value === 'number' ? [value, value] : value
  if (values.length !== 2) throw invalid('a number or a pair of numbers', name, value)
  return [checkInteger(values[0], name, min), checkInteger(values[1], name, min)]
}

/** Throws for any key of `options` that is not in `known`, suggesting a close match. */
export function checkOptions(options: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue
    const lower = key.toLowerCase()
    const close = known.find((k) => {
      const other = k.toLowerCase()
      return other.includes(lower) || lower.includes(other)
    })
    const hint = close === undefined ? '' : `; did you mean "${close}"?`
    throw new ValidationError(`Unknown option "${key}" for ${where}${hint}`)
  }
}
