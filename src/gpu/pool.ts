/**
 * A pool of storage buffers reused by exact byte size.
 *
 * Tensors of a training step have the same shapes every step, so exact-size free lists give a
 * hit rate of ~100% after the first step and no allocation in steady state. Buffers are never
 * returned to the driver until {@linkcode BufferPool.trim} (freeing is slow on some backends and
 * leaks on Mesa's GL one).
 *
 * Reusing a released buffer inside the same command encoder is safe: WebGPU orders the
 * dispatches of a queue, so a later writer never overtakes an earlier reader.
 *
 * @module
 */

import type { Stats } from "./stats.ts";

/** Usage of every pooled buffer: bindable as storage, copyable both ways. */
export const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;

/** Rounds a byte count up to the 16-byte granule the pool allocates in. */
export function roundBytes(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

/** Exact-size free lists of GPU storage buffers with byte accounting in {@linkcode Stats}. */
export class BufferPool {
  readonly #device: GPUDevice;
  readonly #stats: Stats;
  readonly #free = new Map<number, GPUBuffer[]>();
  readonly #inUse = new Set<GPUBuffer>();
  /** Called with every buffer given back, after the pool took it (the device drops buffers derived from it). */
  onRelease: ((buffer: GPUBuffer) => void) | null = null;

  /**
   * Creates an empty pool; {@linkcode Gpu} makes one per device.
   *
   * @param device creates the buffers.
   * @param stats receives the byte and buffer counts.
   */
  constructor(device: GPUDevice, stats: Stats) {
    this.#device = device;
    this.#stats = stats;
  }

  /**
   * A buffer of at least `bytes` bytes (rounded up to 16), from the pool when one is free.
   * Its contents are unspecified.
   *
   * @throws {RangeError} if `bytes` exceeds the device's `maxBufferSize`.
   */
  acquire(bytes: number, label?: string): GPUBuffer {
    const size = roundBytes(bytes);
    if (size > this.#device.limits.maxBufferSize) {
      throw new RangeError(
        `BufferPool: ${bytes} bytes${label ? ` (${label})` : ""} exceed the device's ` +
          `maxBufferSize of ${this.#device.limits.maxBufferSize} bytes; use a smaller population ` +
          `or batch`,
      );
    }
    const list = this.#free.get(size);
    let buffer = list?.pop();
    if (buffer === undefined) {
      buffer = this.#device.createBuffer({ size, usage: STORAGE_USAGE, label });
      this.#stats.bytesAllocated += size;
      this.#stats.buffersCreated++;
    }
    this.#inUse.add(buffer);
    this.#stats.bytesInUse += size;
    this.#stats.peakBytesInUse = Math.max(this.#stats.peakBytesInUse, this.#stats.bytesInUse);
    return buffer;
  }

  /** Gives a buffer obtained from {@linkcode acquire} back to the pool. */
  release(buffer: GPUBuffer): void {
    if (!this.#inUse.delete(buffer)) {
      throw new Error("BufferPool: released a buffer that is not in use (double dispose?)");
    }
    this.#stats.bytesInUse -= buffer.size;
    let list = this.#free.get(buffer.size);
    if (list === undefined) {
      list = [];
      this.#free.set(buffer.size, list);
    }
    list.push(buffer);
    this.onRelease?.(buffer);
  }

  /** Destroys every free buffer, returning its memory to the driver. */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const buffer of list) {
        this.#stats.bytesAllocated -= buffer.size;
        buffer.destroy();
      }
    }
    this.#free.clear();
  }

  /** Bytes sitting in free lists. */
  get bytesFree(): number {
    let total = 0;
    for (const [size, list] of this.#free) total += size * list.length;
    return total;
  }
}
