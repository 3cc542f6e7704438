/**
 * A bounded least-recently-used map that hands evicted values to `onEvict` (to release sessions or
 * buffers). Bounded by a count of entries and, with `weight`, by their total weight as well (bytes,
 * say): a value heavier than the whole bound is not kept.
 */
export class LruCache<K, V> {
  private readonly entries = new Map<K, V>()
  private held = 0

  constructor (
    readonly capacity: number,
    private readonly onEvict: (value: V, key: K) => void = () => {},
    private readonly weight?: { of: (value: V) => number, max: number }
  ) {
    if (!(capacity === Infinity || (Number.isInteger(capacity) && capacity >= 1))) throw new RangeError(`cache capacity must be a positive integer, got ${capacity}`)
  }

  get size (): number {
    return this.entries.size
  }

  /** The total weight held (0 without a weight bound). */
  get totalWeight (): number {
    return this.held
  }

  has (key: K): boolean {
    return this.entries.has(key)
  }

  /** Returns the value and marks it most recently used. */
  get (key: K): V | undefined {
    const value = this.entries.get(key)
    if (value !== undefined) {
      // Map keeps insertion order: re-inserting moves the key to the most recent end.
      this.entries.delete(key)
      this.entries.set(key, value)
    }
    return value
  }

  /** Returns the value without touching its recency. */
  peek (key: K): V | undefined {
    return this.entries.get(key)
  }

  /** Removes an entry without handing it to onEvict. */
  delete (key: K): boolean {
    const value = this.entries.get(key)
    if (value === undefined) return false
    this.entries.delete(key)
    this.held -= this.weigh(value)
    return true
  }

  /**
   * Keeps `value` under `key` as the most recent entry, evicting the oldest ones past the bounds.
   * A previous value under the key is evicted. Returns false, keeping nothing under the key, when
   * the value alone is heavier than the weight bound.
   */
  set (key: K, value: V): boolean {
    const previous = this.entries.get(key)
    if (previous !== undefined) {
      this.delete(key)
      if (previous !== value) this.onEvict(previous, key)
    }
    const weight = this.weigh(value)
    if (this.weight !== undefined && weight > this.weight.max) return false
    this.entries.set(key, value)
    this.held += weight
    while (this.entries.size > this.capacity || (this.weight !== undefined && this.held > this.weight.max)) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [K, V]
      this.delete(oldestKey)
      this.onEvict(oldest, oldestKey)
    }
    return true
  }

  keys (): K[] {
    return [...this.entries.keys()]
  }

  /** Evicts everything (through onEvict). */
  clear (): void {
    const all = [...this.entries]
    this.entries.clear()
    this.held = 0
    for (const [key, value] of all) this.onEvict(value, key)
  }

  private weigh (value: V): number {
    return this.weight === undefined ? 0 : this.weight.of(value)
  }
}
