import { isJsonContentType } from './publish-precheck.middleware';

describe(isJsonContentType.name, () => {
  it.each([
    ['application/json', true],
    ['Application/JSON', true],
    ['application/json; charset=utf-8', true],
    ['application/json;charset="UTF-8"', true],
    [undefined, false],
    ['', false],
    ['text/plain', false],
    ['application/x-www-form-urlencoded', false],
    ['multipart/form-data; boundary=x', false],
    ['application/jsonx', false],
    ['application/vnd.api+json', false],
    ['application/json; boundary=x', false],
    ['application/json; charset=utf-8; x=1', false],
  ])('%j → %s', (header, ok) => {
    expect(isJsonContentType(header)).toBe(ok);
  });
});
