/** Prometheus gauges and counters read when scraped, as the services' `/metrics` declare theirs. */
import { Counter, Gauge, type Registry } from 'prom-client'

/** Adds to `registry` a gauge whose value `read` gives at each scrape. */
export function gaugeReading(
  registry: Registry,
  name: string,
  help: string,
  read: () => number | Promise<number>,
): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    async collect() {
      this.set(await read())
    },
  })
}

/**
 * Adds to `registry` a counter whose value `read` gives at each scrape: a count the service
 * keeps as a plain number, that only grows while it runs. A `_total` name is a counter's
 * (`promtool check metrics` flags a gauge named so), and `rate()` is reset-aware only for
 * counters.
 */
export function counterReading(registry: Registry, name: string, help: string, read: () => number): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset()
      this.inc(read())
    },
  })
}
