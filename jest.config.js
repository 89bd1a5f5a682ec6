// Two projects: unit specs beside the code (the server's and the client library's), e2e specs in test/. SWC compiles both (with decorator metadata,
// which Nest's dependency injection needs). Every test file runs with the unhandled-error guard.
const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false }, target: 'es2022', keepClassNames: true } }];
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': swc },
  moduleFileExtensions: ['ts', 'js', 'json'],
  setupFilesAfterEnv: ['<rootDir>/test/utils/fail-on-unhandled.ts'],
};
module.exports = {
  testTimeout: 30000,
  collectCoverageFrom: ['src/**/*.ts', 'packages/client/src/**/*.ts', '!**/*.spec.ts', '!src/main.ts'],
  projects: [
    { ...common, displayName: 'unit', rootDir: '.', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/packages/client/src/**/*.spec.ts'] },
    { ...common, displayName: 'e2e', rootDir: '.', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
  ],
};
