/** Aux-info round 3: every echo must equal ours; then open the commitment to all. */
import { echoMismatches } from '../echo.js';
import { BaseRound, Blame, collect, guarded, type Msg, type Step } from '../machine.js';
import type { AuxInfo } from '../aux-info.js';
import { ROUND, decodeHash, encodeDecommit } from './messages.js';
import { parties } from './params.js';
import type { Round2State } from './round2.js';
import { Round4 } from './round4.js';

export class Round3 extends BaseRound<AuxInfo> {
  readonly expects = [{ round: ROUND.echo, broadcast: true }];

  constructor(private readonly s: Round2State) {
    super();
  }

  get me(): number {
    return this.s.params.i;
  }

  protected run(inbox: readonly Msg[]): Step<AuxInfo> {
    return guarded(() => {
      const { n, i } = this.s.params;
      const got = collect(i, parties(n), this.expects, inbox).get(ROUND.echo) as Map<number, Uint8Array>;
      const echoes = new Map<number, Uint8Array>();
      for (const [j, body] of got) {
        try {
          echoes.set(j, decodeHash(body));
        } catch (e) {
          throw new Blame([j], `${ROUND.echo}: malformed (${(e as Error).message})`);
        }
      }
      const differ = echoMismatches(this.s.echo, echoes);
      if (differ.length) throw new Blame([], `${ROUND.echo}: broadcasts differ (echo of party ${differ.join(', ')} ≠ ours)`);
      const outbox: Msg[] = [{ from: i, to: 'all', round: ROUND.decommit, body: encodeDecommit(this.s.decommit) }];
      return { kind: 'next', round: new Round4(this.s), outbox };
    });
  }
}
