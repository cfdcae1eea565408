/** The base of the presigning rounds: run by the signer set S only, as signer i (from the signer view). */
import { BaseRound } from '../machine.js';
import type { SignerView } from './params.js';
import type { Presignature } from './presignature.js';

export abstract class SignerRound<S extends { readonly view: SignerView }> extends BaseRound<Presignature, S> {
  get me(): number {
    return this.s.view.i;
  }

  protected get parties(): readonly number[] {
    return this.s.view.S;
  }
}
