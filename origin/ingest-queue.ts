/**
 * Runs ingests one (or a few) at a time with a bounded waiting line: each ingest
 * already keeps every core busy through the hash pool.
 */
import { IngestBusyError } from './errors.ts'

/** Options of {@link IngestQueue}. */
export interface IngestQueueInit {
  /** Ingests running at once. */
  concurrency: number
  /** Ingests waiting; one more is refused with {@link IngestBusyError}. */
  maxQueued: number
}

/** A bounded FIFO of async jobs with limited concurrency. */
export class IngestQueue {
  private running = 0
  private readonly waiting: Array<() => void> = []
  private readonly init: IngestQueueInit

  constructor(init: IngestQueueInit) {
    this.init = { ...init }
  }

  /** Runs `job` when a slot is free. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.init.concurrency) {
      if (this.waiting.length >= this.init.maxQueued) throw new IngestBusyError()
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    } else {
      this.running++
    }
    try {
      return await job()
    } finally {
      const next = this.waiting.shift()
      if (next !== undefined) next()
      else this.running--
    }
  }
}
