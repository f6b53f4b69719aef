/**
 * Lines the operator must see, one JSON object each (`event`, `message`), as the agent's
 * `onWarning` gets them (the daemon's stderr by default).
 */
import type { JournalDamage } from './journal-open.ts'
import type { Command } from './protocol.ts'

/** The journal was found damaged at start, and repaired or started anew. */
export function journalDamagedLine(damage: JournalDamage): string {
  const done = damage.fresh ? 'a new one was started' : 'it was repaired, and may have lost records'
  const kept = damage.keptAt === undefined ? '' : `; its files as they were are kept in ${damage.keptAt}`
  return JSON.stringify({
    event: 'agent-journal-damaged',
    reason: damage.reason,
    kept: damage.keptAt ?? null,
    fresh: damage.fresh,
    message: `the agent's journal was damaged (${damage.reason}); ${done}${kept}. Until the tracker has sent again what it may, each command is checked against what this node serves before it is applied (node/README.md, tracker agent)`,
  })
}

/** `stop()` gave up waiting for commands whose content calls ignored the abort. */
export function stopTimeoutLine(running: Command[], waitedMs: number, deadlineMs: number): string {
  const what =
    running.length === 0
      ? 'a command'
      : running.map((c) => `command ${c.id} (${c.op} ${c.resource})`).join(', ')
  return JSON.stringify({
    event: 'agent-stop-timeout',
    commands: running.map((c) => c.id),
    message: `stopped after ${waitedMs} ms with ${what} still in the node's content API (it did not end on abort within ${deadlineMs} ms): the journal still holds it as received, so the next start applies it`,
  })
}
