/** A Prometheus gauge read when scraped, as the services' `/metrics` declare theirs. */
import { Gauge, type Registry } from 'prom-client'

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
