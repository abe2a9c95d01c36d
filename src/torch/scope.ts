/**
 * Deterministic release of native memory: every tensor created inside `scope(fn)` is disposed
 * when fn returns, except the tensors reachable from what fn returns, which move to the
 * enclosing scope. Works like tf.tidy; fn must be synchronous.
 * @module
 */
import { ValidationError } from '../errors.js'

/** Anything that owns native memory. */
export interface Disposable {
  /** Frees the native memory the object owns. */
  dispose(): void
  /**
   * Called when no scope holds the object any more (made outside every scope, kept, or returned
   * from the outermost): from then on dispose() or the garbage collector frees it.
   */
  unscoped?(): void
}

const stack: Set<Disposable>[] = []

/** Records an object in the innermost open scope; outside every scope it is unscoped. */
export function track(object: Disposable): void {
  const innermost = stack.at(-1)
  if (innermost) innermost.add(object)
  else object.unscoped?.()
}

/** Takes `object` out of every open scope, so only an explicit dispose() releases it. */
export function keep<T extends Disposable>(object: T): T {
  for (const scope of stack) scope.delete(object)
  object.unscoped?.()
  return object
}

// The tracked objects found in a returned value: itself, or inside arrays, maps and plain objects.
function collect(value: unknown, created: Set<Disposable>, found: Set<Disposable>): void {
  if (value === null || typeof value !== 'object') return
  if (created.has(value as Disposable)) {
    found.add(value as Disposable)
    return
  }
  if (Array.isArray(value)) {
    for (const item of value) collect(item, created, found)
  } else if (value instanceof Map) {
    for (const item of value.values()) collect(item, created, found)
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const item of Object.values(value)) collect(item, created, found)
  }
}

/**
 * Runs fn and disposes every tensor it created that is not part of its result.
 * @example
 * const loss = scope(() => bceWithLogits(model.forward(xb), yb)) // intermediates are freed
 */
export function scope<T>(fn: () => T): T {
  const created = new Set<Disposable>()
  stack.push(created)
  let result: T
  try {
    result = fn()
  } catch (error) {
    stack.pop()
    for (const object of created) object.dispose()
    throw error
  }
  stack.pop()
  if (result instanceof Promise) {
    for (const object of created) object.dispose()
    throw new ValidationError('scope() takes a synchronous function; await outside of it')
  }
  const kept = new Set<Disposable>()
  collect(result, created, kept)
  for (const object of created) {
    if (kept.has(object)) track(object)
    else object.dispose()
  }
  return result
}
