// Slabs that a connection's small records (the ends of a request, management answers, short
// answers) are packed into, one after another, so that a peer whose every record needs an answer
// costs bytes, not a Buffer per answer. A slab goes back to a pool shared by the process's
// connections once no write holds its bytes: a flood that the kernel takes slowly allocates no new
// memory per answer (fresh buffers would pile up until V8 collects them, tens of MiB).

/** Records up to this size are packed. */
export const SMALL_RECORD = 256;
const SLAB_SIZE = 4 * 1024;
/** Slabs kept for reuse across the process (1 MiB). */
const POOL_MAX = 256;

export class Slab {
  readonly bytes = Buffer.allocUnsafe(SLAB_SIZE);
  /** Bytes start..end are packed and not yet queued for writing. */
  start = 0;
  end = 0;
  /** Flushes whose writes hold bytes of this slab, queued or not yet completed. */
  holds = 0;
  /** Its connection has moved on to another slab: back to the pool once `holds` is 0. */
  retired = false;

  get room(): number {
    return SLAB_SIZE - this.end;
  }

  /** A flush's write that held bytes of this slab is done. */
  release(): void {
    if (--this.holds === 0 && this.retired) recycle(this);
  }

  /** Its connection is done with it. */
  retire(): void {
    this.retired = true;
    if (this.holds === 0) recycle(this);
  }
}

const pool: Slab[] = [];

export function takeSlab(): Slab {
  const slab = pool.pop() ?? new Slab();
  slab.start = slab.end = 0;
  slab.retired = false;
  return slab;
}

function recycle(slab: Slab): void {
  if (pool.length < POOL_MAX) pool.push(slab);
}
