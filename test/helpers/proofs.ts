/** The InvalidProof reason a verification throws, or undefined when it accepts (other errors propagate). */
import { InvalidProof } from '../../src/zk/errors.js';

export function reason(f: () => void): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof InvalidProof) return e.reason;
    throw e;
  }
  return undefined;
}
