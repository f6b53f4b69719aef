/**
 * "Peers on the same campus preferred over same city over others", on a tracker's word: a
 * node that trusts a tracker places a peer by the tracker's signed statement its hello shows
 * (`node/swarm/locality.ts`), not by the campus it claims. Before, any peer claiming the
 * campus was asked first, wherever it was. Real libp2p nodes on loopback.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { Ed25519Signer } from '../../../node/ed25519.ts'
import type { DandelionNode } from '../../../node/index.ts'
import { MembershipSigner } from '../../../node/membership.ts'
import { addContent, Harness, originKey, randomContent, until } from '../utils/harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

async function trackerSigner(): Promise<MembershipSigner> {
  return new MembershipSigner(new Ed25519Signer(await generateKeyPair('Ed25519')))
}

/** What `viewer`'s swarm says of each peer, by PeerId. */
function placesSeenBy(
  viewer: DandelionNode,
): Map<string, { campus?: string; city?: string; proven: boolean }> {
  const peers = viewer.status().swarms[0]?.peers ?? []
  return new Map(peers.map((p) => [p.peer, { campus: p.campus, city: p.city, proven: p.proven }]))
}

describe('where a peer is', () => {
  it('is what a trusted tracker signed, not what the peer claims', async () => {
    const tracker = await trackerSigner()
    const stranger = await trackerSigner()
    const key = await originKey()
    const bytes = randomContent(512 * 1024)
    // an honest node of campus bj-1, one elsewhere claiming bj-1 with no statement, and one
    // showing a statement it signed itself
    const place = { campus: 'bj-1', city: 'bj', trustedOrigins: [key.publicKey] }
    const honest = await h.spawn(place)
    const liar = await h.spawn(place)
    const forger = await h.spawn(place)
    expect(
      await honest.setMembership(
        tracker.sign({ peerId: honest.peerId.toString(), nodeId: 'bj-1-a', campus: 'bj-1', city: 'bj' }),
      ),
    ).toBe(true)
    expect(
      await forger.setMembership(
        stranger.sign({ peerId: forger.peerId.toString(), nodeId: 'bj-1-x', campus: 'bj-1', city: 'bj' }),
      ),
    ).toBe(true)
    // a statement about another node is refused
    expect(
      await liar.setMembership(
        tracker.sign({ peerId: honest.peerId.toString(), nodeId: 'bj-1-a', campus: 'bj-1', city: 'bj' }),
      ),
    ).toBe(false)
    const manifest = await addContent(honest.store, bytes, key)
    await honest.seed(manifest)
    // the other two get it from the honest one, and seed it too
    for (const n of [liar, forger]) {
      await h.connect(n, honest)
      await n.fetch(manifest.cid)
    }

    // slow downloads, so that every peer is still in the swarm when it is looked at
    const common = {
      campus: 'bj-1',
      city: 'bj',
      trustedOrigins: [key.publicKey],
      limits: { downloadBytesPerSecond: 128 * 1024 },
    }
    const seeker = await h.spawn({ ...common, trustedTrackers: [tracker.tracker] })
    // and a node that trusts no tracker: claims are all it has
    const trusting = await h.spawn(common)
    for (const n of [seeker, trusting]) for (const p of [honest, liar, forger]) await h.connect(n, p)
    const fetched = Promise.all([seeker.fetch(manifest.cid), trusting.fetch(manifest.cid)])

    await until(() => placesSeenBy(seeker).size === 3)
    const seen = placesSeenBy(seeker)
    expect(seen.get(honest.peerId.toString())).toEqual({ campus: 'bj-1', city: 'bj', proven: true })
    expect(seen.get(liar.peerId.toString())).toEqual({ proven: false })
    expect(seen.get(forger.peerId.toString())).toEqual({ proven: false })
    await until(() => placesSeenBy(trusting).size === 3)
    for (const p of placesSeenBy(trusting).values()) expect(p).toMatchObject({ campus: 'bj-1', city: 'bj' })
    await fetched
  })

  it('of this node is its tracker’s statement, kept for the next start', async () => {
    const tracker = await trackerSigner()
    const privateKey = await generateKeyPair('Ed25519')
    const dataDir = await h.tempDir()
    const node = await h.spawn({ privateKey, dataDir, campus: 'bj-1', city: 'bj' })
    // the tracker moved it to campus sh-1
    const moved = tracker.sign({ peerId: node.peerId.toString(), nodeId: 'n1', campus: 'sh-1', city: 'sh' })
    expect(await node.setMembership(moved)).toBe(true)
    expect(node.status()).toMatchObject({
      campus: 'sh-1',
      city: 'sh',
      membership: { tracker: tracker.tracker, nodeId: 'n1' },
    })
    await node.stop()
    // started again (its tracker unreachable): the kept statement still holds
    const again = await h.spawn({ privateKey, dataDir, campus: 'bj-1', city: 'bj' })
    expect(again.status()).toMatchObject({ campus: 'sh-1', city: 'sh', membership: { nodeId: 'n1' } })
    await again.stop()
    // unless its settings name another tracker
    const other = await trackerSigner()
    const strict = await h.spawn({
      privateKey,
      dataDir,
      campus: 'bj-1',
      city: 'bj',
      trustedTrackers: [other.tracker],
    })
    expect(strict.status()).toMatchObject({ campus: 'bj-1', city: 'bj' })
    expect(strict.status().membership).toBeUndefined()
  })
})
