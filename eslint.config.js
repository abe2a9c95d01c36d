// Lint rules: ESLint's and typescript-eslint's recommended sets over the TypeScript sources.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  // What builds and tests write, as .gitignore lists it.
  {
    ignores: [
      'dist/',
      'native/build/',
      'node_modules/',
      'test-artifacts/',
      'runs/',
      'docs/api/',
      '.device/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
)
