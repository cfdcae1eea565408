/** The base of every resharing round: party `me` of the run's positions 0 … m − 1, whatever its role. */
import { allParties } from '../common.js';
import { BaseRound } from '../machine.js';
import type { ReshareParams } from './params.js';
import type { ReshareOutput } from './output.js';

export abstract class ReshareRound<S extends { readonly params: ReshareParams }> extends BaseRound<ReshareOutput, S> {
  get me(): number {
    return this.s.params.me;
  }

  protected get parties(): readonly number[] {
    return allParties(this.s.params.roles.length);
  }
}
