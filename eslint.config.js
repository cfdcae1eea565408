// Lint rules of the TypeScript side (`npm run lint`). The layering below is the one
// docs/architecture.md describes: a folder of src/ may import only from the folders listed for it,
// so the import graph stays one-way (pure arithmetic at the bottom, processes at the top).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** src/<folder> → the src folders it may import from (besides itself). */
const LAYERS = {
  util: [],
  wasm: ['util'],
  curve: ['wasm', 'util'],
  paillier: ['wasm', 'util'],
  zk: ['curve', 'paillier', 'wasm', 'util'],
  protocol: ['zk', 'curve', 'paillier', 'wasm', 'util'],
  transport: ['util'],
  config: ['transport', 'util'],
  envelope: ['protocol', 'util'],
  kms: ['config', 'util'],
  rpc: ['util'],
  backup: ['protocol', 'curve', 'util'],
  node: ['protocol', 'envelope', 'curve', 'transport', 'kms', 'rpc', 'config', 'util', 'wasm', 'backup'],
  coordinator: ['protocol', 'envelope', 'curve', 'transport', 'rpc', 'config', 'util'],
};

/** One config block per folder: relative imports that leave the folder for one it may not use are refused. */
const layerBlocks = Object.entries(LAYERS).map(([folder, allowed]) => {
  const forbidden = Object.keys(LAYERS).filter((f) => f !== folder && !allowed.includes(f));
  return {
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidden.map((f) => ({
            group: [`../${f}/*`, `../../${f}/*`, `../../../${f}/*`],
            message: `src/${folder} may import only from ${allowed.join(', ') || 'itself'} (docs/architecture.md, layers)`,
          })),
        },
      ],
    },
  };
});

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'assembly/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // a promise nobody awaits hides its failure: await it, return it, or mark it `void` on purpose
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': [
        'error',
        { checksVoidReturn: { arguments: false, attributes: false } },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { disallowTypeAnnotations: false }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      eqeqeq: ['error', 'always'],
      // async functions that implement an async interface without awaiting are fine
      '@typescript-eslint/require-await': 'off',
      // a caught value is passed on as it was thrown
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      'no-restricted-syntax': [
        'error',
        {
          selector: 'CallExpression[callee.object.name="Math"][callee.property.name="random"]',
          message: 'Math.random is not a source of secrets: use node:crypto',
        },
      ],
    },
  },
  ...layerBlocks,
  {
    // tests read JSON answers, logs and fixtures as `any` on purpose and assert on them
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Node.js scripts: their globals (process, console, URL) are the runtime's
    files: ['**/*.js', '**/*.mjs'],
    rules: { 'no-undef': 'off' },
  },
);
