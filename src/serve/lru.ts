/**
 * A least-recently-used cache: the slide routes keep Deep Zoom tiles and open slides in it.
 * @module
 */

/** A Map that forgets its oldest entry beyond `limit`, handing it (or one replaced) to `onEvict`. */
export class Lru<V> {
  readonly #map = new Map<string, V>()
  constructor(
    readonly limit: number,
    readonly onEvict: (value: V) => void = () => undefined,
  ) {}
  get(key: string): V | undefined {
    const value = this.#map.get(key)
    if (value !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, value)
    }
    return value
  }
  /** Stores value under key; a different value it replaces is evicted too (closed, freed). */
  set(key: string, value: V): void {
    const replaced = this.#map.get(key)
    this.#map.delete(key)
    this.#map.set(key, value)
    if (replaced !== undefined && replaced !== value) this.onEvict(replaced)
    if (this.#map.size > this.limit) {
      const [oldest, old] = this.#map.entries().next().value as [string, V]
      this.#map.delete(oldest)
      this.onEvict(old)
    }
  }
  delete(key: string): void {
    const value = this.#map.get(key)
    if (value === undefined) return
    this.#map.delete(key)
    this.onEvict(value)
  }
  /** Forgets every entry, evicting each. */
  clear(): void {
    for (const v of this.#map.values()) this.onEvict(v)
    this.#map.clear()
  }
}
