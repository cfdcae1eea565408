/**
 * What only a development environment may do. `--dev-primes` gives a node safe primes from a
 * file of published test fixtures: anyone can factor the Paillier and ring-Pedersen moduli made
 * from them, which breaks every proof and every ciphertext of the node group. It is accepted only
 * where no real key can be at stake: the environment named `local` (env/.env.local), with the
 * coordinator and every node on the LOCAL platform. Any other name, or any cloud platform, is
 * treated as a deployment — a copy of env/.env.local renamed for staging, or one LOCAL node in a
 * multi-cloud group, is refused too.
 * @module
 */
import type { Config } from './config.js';

/** The one environment name development options are accepted under. */
export const DEVELOPMENT_ENV = 'local';

/** Why development primes are refused in this configuration, or undefined when they are allowed. */
export function devPrimesRefusal(config: Config): string | undefined {
  if (config.envName !== DEVELOPMENT_ENV) {
    return `development primes are accepted only in the "${DEVELOPMENT_ENV}" environment (env/.env.${DEVELOPMENT_ENV}), not in ${config.envName === undefined ? 'a configuration without an environment name' : `"${config.envName}"`}`;
  }
  const cloud = [
    ...(config.coordinator.platform === 'LOCAL' ? [] : [`the coordinator (${config.coordinator.platform})`]),
    ...config.nodes.filter((n) => n.platform !== 'LOCAL').map((n) => `${n.id} (${n.platform})`),
  ];
  if (cloud.length > 0)
    return `development primes are accepted only when every member runs on the LOCAL platform; not: ${cloud.join(', ')}`;
  return undefined;
}
