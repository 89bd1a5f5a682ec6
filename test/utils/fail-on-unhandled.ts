// Any unhandled rejection or uncaught exception seen while a test file runs fails that file: the server must
// never produce one, whatever a dependency does.
const seen: Array<{ kind: string; error: unknown }> = [];
const onRejection = (error: unknown) => seen.push({ kind: 'unhandledRejection', error });
const onException = (error: unknown) => seen.push({ kind: 'uncaughtException', error });

beforeAll(() => {
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
});

afterEach(() => {
  if (seen.length > 0) {
    const list = seen
      .splice(0)
      .map((s) => `${s.kind}: ${s.error instanceof Error ? s.error.stack : String(s.error)}`);
    throw new Error(`Process-level errors during the test:\n${list.join('\n')}`);
  }
});

afterAll(() => {
  process.off('unhandledRejection', onRejection);
  process.off('uncaughtException', onException);
});
