import { afterEach, describe, expect, it } from 'vitest'
import { addContent, Harness, originKey, randomContent } from '../utils/harness.ts'

/** The families of a Prometheus text exposition (format 0.0.4), checked line by line. */
function parseExposition(text: string): Map<string, { type?: string; help?: string; series: string[] }> {
  const families = new Map<string, { type?: string; help?: string; series: string[] }>()
  const family = (name: string) => {
    const f = families.get(name) ?? { series: [] }
    families.set(name, f)
    return f
  }
  for (const line of text.split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line)
    if (meta !== null) {
      if (meta[1] === 'HELP') family(meta[2]).help = meta[3]
      else family(meta[2]).type = meta[3]
      continue
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line)
    if (sample === null) throw new Error(`not an exposition line: ${line}`)
    expect(Number.isNaN(Number(sample[3]))).toBe(false)
    family(sample[1]).series.push(sample[1] + (sample[2] ?? ''))
  }
  return families
}

describe('playback /metrics', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('exposes totals as counters, each family typed and described, no series twice', async () => {
    const key = await originKey()
    const node = await h.spawn({ playback: { port: 0 } })
    await node.seed(await addContent(node.store, randomContent(300_000), key))
    await node.seed(await addContent(node.store, randomContent(200_000), key))
    const response = await fetch(`${node.playbackUrl}/metrics`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
    const families = parseExposition(await response.text())

    expect(families.get('dandelion_node_swarm_progress_ratio')?.series).toHaveLength(2)
    for (const [name, f] of families) {
      expect(f.help, name).toBeTruthy()
      // Prometheus naming: `_total` is a counter's suffix, and only a counter's
      expect(f.type, name).toBe(name.endsWith('_total') ? 'counter' : 'gauge')
      expect(new Set(f.series).size, name).toBe(f.series.length)
    }
    expect(families.get('dandelion_node_bytes_from_peers_total')?.type).toBe('counter')
  })
})
