/**
 * Headless Chromium joins the served web page as a student in a one-on-one call with a werift
 * teacher publishing real VP8 (a generated sample), and decodes frames.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterEach, describe, expect, it } from 'vitest'
import { readIvf } from '../../../rtc/client/rtp-source.ts'
import { DEFAULT_LIMITS } from '../../../rtc/room/reducer.ts'
import { type MediaHarness, spawnMedia, until } from '../sfu/media-harness.ts'
import { type Harness, spawn } from '../signaling/harness.ts'

const CHROMIUM = '/usr/bin/chromium'
const haveChromium = existsSync(CHROMIUM)
const sample = fileURLToPath(new URL('../fixtures/sample-vp8.ivf', import.meta.url))

const launch = (): Promise<Browser> =>
  chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ],
  })

let h: MediaHarness | undefined
/** A signaling-only server, for tests of the page's room view. */
let hs: Harness | undefined
let browser: Browser | undefined
afterEach(async () => {
  await browser?.close()
  await h?.teardown()
  await hs?.teardown()
  h = undefined
  hs = undefined
  browser = undefined
})

/** What `shows` reads in the page (the tests are not compiled with the DOM's types). */
interface PageGlobals {
  document: { getElementById(id: string): { textContent: string | null } | null }
}

/** What `videos` reads in the page. */
interface PageVideos {
  document: { querySelectorAll(sel: string): Iterable<{ dataset: { user: string }; hidden: boolean }> }
}

/** Waits until the page's `#id` reads `text`; bounded, with what it read last in the failure. */
async function shows(page: Page, id: string, text: string): Promise<void> {
  await page
    .waitForFunction(
      ([i, t]) => (globalThis as unknown as PageGlobals).document.getElementById(i)?.textContent === t,
      [id, text],
      {
        timeout: 20_000,
      },
    )
    .catch(async () => {
      throw new Error(`#${id} shows ${JSON.stringify(await page.textContent(`#${id}`))}, not ${text}`)
    })
}

/**
 * A Chromium teacher's page in class `c` of `m` publishing its camera, and a werift student `s`
 * receiving it; resolves once the student gets its media. `packets`: what the student got so far.
 */
async function cameraToStudent(m: MediaHarness): Promise<{
  page: Page
  student: Awaited<ReturnType<MediaHarness['receiver']>>
  packets: () => number
}> {
  browser = await launch()
  const page = await browser.newPage()
  await page.goto(`${m.server.url}/#token=${m.token('t', 'teacher', 'c', 'class')}`)
  const student = await m.receiver('s', 'c')
  let n = 0
  student.sub.onPacket(() => {
    n++
  })
  await page.click('#camera')
  await until(() => n > 30, 'Chromium media at the student', 45_000)
  return { page, student, packets: () => n }
}

describe('browser', () => {
  if (!haveChromium) {
    it.skip(`needs ${CHROMIUM} (apt-get install chromium)`, () => {})
    return
  }

  it('a Chromium student decodes the werift teacher in a one-on-one call', async () => {
    h = await spawnMedia()
    const teacher = await h.publisher('t', 'teacher', 'r', 'one-on-one', { frames: readIvf(sample), fps: 15 })
    browser = await launch()
    const page = await browser.newPage()
    await page.goto(`${h.server.url}/#token=${h.token('lamp', 'student', 'r', 'one-on-one')}`)
    await teacher.sig.waitFor((s) => s.participants.lamp !== undefined)
    teacher.sig.action('call.initiate', { callId: 'call-1', callee: 'lamp' })
    await teacher.sig.waitFor((s) => s.call?.status === 'ringing')
    await page.click('#accept-call')
    await teacher.sig.waitFor((s) => s.call?.status === 'accepted')
    const decoded = (): Promise<number> =>
      page.evaluate(() => (globalThis as unknown as { framesDecoded(): Promise<number> }).framesDecoded())
    await until(async () => (await decoded()) > 0, 'first decoded frame', 45_000)
    const first = await decoded()
    await until(async () => (await decoded()) > first + 10, 'more decoded frames', 30_000)
    expect(await page.textContent('#call')).toContain('accepted')
    // Chromium negotiates AES-GCM with werift, so its audio and video took the fast SRTP path
    expect((await h.sfu.stats()).fastOutputs).toBe(2)
  })

  it("a Chromium student's page shows the next publisher on the m-line the previous one left", async () => {
    h = await spawnMedia()
    const frames = readIvf(sample)
    // the teacher names the room's kind (students publish from then on), and publishes nothing
    await h.join('t', 'teacher', { room: 'g', kind: 'group' })
    browser = await launch()
    const page = await browser.newPage()
    await page.goto(`${h.server.url}/#token=${h.token('w', 'student', 'g', 'group')}`)
    const decoded = (): Promise<number> =>
      page.evaluate(() => (globalThis as unknown as { framesDecoded(): Promise<number> }).framesDecoded())
    /** The page's video elements: who each one shows, and whether it is shown. */
    const videos = (): Promise<Array<{ user: string; hidden: boolean }>> =>
      page.evaluate(() =>
        [...(globalThis as unknown as PageVideos).document.querySelectorAll('#videos video')].map((v) => ({
          user: v.dataset.user,
          hidden: v.hidden,
        })),
      )
    const first = await h.publisher('s1', 'student', 'g', 'group', { frames, fps: 15 })
    await until(async () => (await decoded()) > 10, 's1 decoded', 45_000)
    expect(await videos()).toEqual([{ user: 's1', hidden: false }])
    first.source.stop()
    first.sig.close()
    await until(async () => (await h!.sfu.stats()).publishers === 0, 's1 unpublished')
    await until(async () => (await videos()).every((v) => v.hidden), "s1's video hidden")
    const before = await decoded()
    await h.publisher('s2', 'student', 'g', 'group', { frames, fps: 15 })
    // s1 is gone: frames decoded from now on are s2's, on the same m-line and element
    await until(async () => (await decoded()) > before + 10, 's2 decoded', 45_000)
    expect(await videos()).toEqual([{ user: 's2', hidden: false }])
  })

  it('a Chromium teacher publishes its camera to a werift student through the page', async () => {
    h = await spawnMedia()
    browser = await launch()
    const page = await browser.newPage()
    await page.goto(`${h.server.url}/#token=${h.token('t', 'teacher', 'c', 'class')}`)
    const student = await h.receiver('s', 'c')
    await page.click('#camera')
    await until(
      () => student.sub.tracks.some((t) => t.kind === 'video' && t.packets > 30),
      'Chromium video at the student',
      45_000,
    )
    await until(() => student.sub.tracks.some((t) => t.kind === 'audio' && t.packets > 10), 'Chromium audio')
    // (the student's first offer carried an idle video m-line, no publisher yet: the teacher's video took it)
    const live = student.sub.tracks.filter((t) => t.packets > 0).map((t) => t.kind)
    expect(live.sort()).toEqual(['audio', 'video'])
    expect((await h.sfu.stats()).publishers).toBe(1)
    // Chromium's audio-level header extension drives the active speaker
    await until(() => student.sig.state?.speaker === 't', 'teacher as active speaker', 20_000)
  })

  it("a Chromium teacher's page resumes its session after its socket dropped, missing no event", async () => {
    h = await spawnMedia()
    const { page, student, packets } = await cameraToStudent(h)
    // the page's socket drops (Wi-Fi); a hand goes up while it is away
    h.server.room('c')?.sessions.get('t')?.socket?.terminate()
    student.sig.action('hand.raise')
    await student.sig.waitFor((st) => st.hands.length === 1)
    // it comes back in the same session: the missed event replayed, its media untouched
    await shows(page, 'hands', 's')
    expect(await page.textContent('#log')).toMatch(/resumed at event \d+/)
    const before = packets()
    await until(() => packets() > before + 30, 'Chromium media still at the student', 45_000)
    expect((await h.sfu.stats()).publishers).toBe(1)
  })

  it("a Chromium teacher's page publishes its camera again once the rtc server restarted", async () => {
    const first = await spawnMedia()
    h = first
    const { page, student, packets } = await cameraToStudent(first)
    const port = Number(new URL(first.server.url).port)
    // a deploy: the server and its SFU stop, a new one starts on the same port; the page and
    // the student come back in new sessions, the SFU knowing nothing of them
    await first.server.close()
    h = await spawnMedia({}, { port })
    const before = packets()
    // before, the page never published again: its camera stayed on the old SFU's dead connection
    await until(() => packets() > before + 30, 'Chromium media at the student after the restart', 45_000)
    await shows(page, 'who', 't (teacher)')
    student.sig.close()
  })

  it("a Chromium teacher's page drops a timed-out hand and shows an unanswered call timed out", async () => {
    // the server's clock times hands and rings out; the page must follow it as clients do
    hs = await spawn({ tickMs: 50, limits: { ...DEFAULT_LIMITS, handTimeoutMs: 1000, ringTimeoutMs: 1000 } })
    browser = await launch()
    const page = await browser.newPage()
    await page.goto(`${hs.server.url}/#token=${hs.token('t', 'teacher', 'c', 'class')}`)
    // the page is in the room before the hand goes up, so it is sent the raise, then the timeout
    await shows(page, 'who', 't (teacher)')
    const s1 = await hs.join('s1', 'student', { room: 'c' })
    s1.action('hand.raise')
    await s1.waitFor((st) => st.hands.length === 1)
    await s1.waitFor((st) => st.hands.length === 0)
    await shows(page, 'hands', '-')
    await page.fill('#target', 's1')
    await page.click('#call-btn')
    await s1.waitFor((st) => st.call?.status === 'timeout')
    await shows(page, 'call', 's1: timeout')
  })

  it("a Chromium teacher's 'Accept first hand' takes the next hand once the first one's student left", async () => {
    hs = await spawn({ graceMs: 100 })
    browser = await launch()
    const page = await browser.newPage()
    await page.goto(`${hs.server.url}/#token=${hs.token('t', 'teacher', 'c', 'class')}`)
    await shows(page, 'who', 't (teacher)')
    const s1 = await hs.join('s1', 'student', { room: 'c' })
    const s2 = await hs.join('s2', 'student', { room: 'c' })
    s1.action('hand.raise')
    await shows(page, 'hands', 's1')
    s1.close()
    await s2.waitFor((st) => st.participants.s1 === undefined)
    s2.action('hand.raise')
    await s2.waitFor((st) => st.hands.some((x) => x.user === 's2'))
    // before: the page still had s1 first, and the button asked for a hand no longer raised
    await shows(page, 'hands', 's2')
    await page.click('#accept-hand')
    await s2.waitFor((st) => st.stage.includes('s2'), { signal: AbortSignal.timeout(20_000) })
  })
})
