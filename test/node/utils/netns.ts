/**
 * `unshare` arguments that run a command in a network namespace of its own with its loopback
 * up: with a user namespace of its own (works unprivileged), else as root; undefined when this
 * machine allows neither. Traffic there stays on that namespace's loopback (mDNS multicast
 * included), and its ports are free whatever else runs on the machine.
 */
import { execFileSync } from 'node:child_process'

export const inNetns = ((): string[] | undefined => {
  for (const ns of ['-rn', '-n']) {
    const argv = [ns, 'sh', '-c', 'ip link set lo up && exec "$0" "$@"']
    try {
      execFileSync('unshare', [...argv, 'true'], { stdio: 'ignore', timeout: 5_000 })
      return argv
    } catch {}
  }
  return undefined
})()
