/**
 * A configuration that cannot start the system. Each issue names the variable (or option) and
 * says why; values of secret variables are never repeated.
 * @module
 */

export interface ConfigIssue {
  /** the environment variable, or a command-line option such as `--env` / `--id` */
  readonly variable: string;
  readonly message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(
    readonly issues: readonly ConfigIssue[],
    source?: string,
  ) {
    super(
      `invalid configuration${source ? ` (${source})` : ''}:\n${issues.map((i) => `  ${i.variable}: ${i.message}`).join('\n')}`,
    );
  }
}
