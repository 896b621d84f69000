/**
 * The uniform arena: where the `Params` struct of every dispatch of one submission lives.
 *
 * Each dispatch gets an aligned slot in a 64 KiB chunk, bound with a dynamic offset (so one
 * cached bind group serves every slot of a chunk); the CPU copy of every chunk used is
 * uploaded with one `writeBuffer` right before the submit. `writeBuffer` is ordered on the queue
 * after earlier submissions, so chunks are reused by the next submission without waiting on the
 * GPU, and a steady training loop allocates nothing here.
 *
 * @module
 */

const CHUNK_BYTES = 64 * 1024;

interface Chunk {
  buffer: GPUBuffer;
  bytes: ArrayBuffer;
  view: DataView;
  used: number;
}

/** A slot handed to one dispatch. */
export interface UniformSlot {
  readonly buffer: GPUBuffer;
  readonly offset: number;
  readonly view: DataView;
}

/** Per-submission allocator of uniform slots. */
export class UniformArena {
  readonly #device: GPUDevice;
  readonly #align: number;
  readonly #chunks: Chunk[] = [];
  #current = 0;

  constructor(device: GPUDevice, alignment: number) {
    this.#device = device;
    this.#align = alignment;
  }

  /** A slot of `size` bytes (≤ 64 KiB) valid until the next {@linkcode upload}. */
  slot(size: number): UniformSlot {
    let chunk = this.#chunks[this.#current];
    if (chunk !== undefined && chunk.used + size > CHUNK_BYTES) {
      this.#current++;
      chunk = this.#chunks[this.#current];
    }
    if (chunk === undefined) {
      const bytes = new ArrayBuffer(CHUNK_BYTES);
      chunk = {
        buffer: this.#device.createBuffer({
          label: "uniform arena",
          size: CHUNK_BYTES,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        }),
        bytes,
        view: new DataView(bytes),
        used: 0,
      };
      this.#chunks.push(chunk);
    }
    const offset = chunk.used;
    chunk.used = Math.ceil((offset + size) / this.#align) * this.#align;
    return { buffer: chunk.buffer, offset, view: chunk.view };
  }

  /** Writes every used chunk to the GPU and starts a new submission. */
  upload(queue: GPUQueue): void {
    for (let i = 0; i <= this.#current && i < this.#chunks.length; i++) {
      const chunk = this.#chunks[i];
      if (chunk.used > 0) queue.writeBuffer(chunk.buffer, 0, chunk.bytes, 0, chunk.used);
      chunk.used = 0;
    }
    this.#current = 0;
  }

  /** Destroys the GPU buffers. */
  destroy(): void {
    for (const chunk of this.#chunks) chunk.buffer.destroy();
    this.#chunks.length = 0;
  }
}
