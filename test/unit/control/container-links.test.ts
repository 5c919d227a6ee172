import { describe, expect, it } from 'vitest';
import { linkText, parseLink } from '../../../src/control/container-links.js';

describe('parseLink (--link CONTAINER[:ALIAS])', () => {
  it('reads CONTAINER:ALIAS, CONTAINER alone (the alias is its name) and Docker\'s /CONTAINER:/LINKER/ALIAS', () => {
    expect(parseLink('db:dbalias')).toEqual({ name: 'db', alias: 'dbalias' });
    expect(parseLink('db')).toEqual({ name: 'db', alias: 'db' });
    expect(parseLink('my.db_1:Db-1')).toEqual({ name: 'my.db_1', alias: 'Db-1' });
    expect(parseLink('/db:/web/dbalias')).toEqual({ name: 'db', alias: 'dbalias' });
    expect(parseLink(`db:${'a'.repeat(63)}`).alias).toHaveLength(63);
  });

  it('refuses what Docker refuses, and an alias that is not one DNS label', () => {
    const reason = (text: string): string => {
      try {
        parseLink(text);
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(reason('')).toBe('empty string specified for links');
    expect(reason('a:b:c')).toBe('bad format for links (expected CONTAINER[:ALIAS])');
    expect(reason('db:')).toBe('empty alias');
    expect(reason(':x')).toBe('no container name');
    for (const alias of ['a.b', '-x', 'x-', 'a b', 'é', 'x'.repeat(64), '/x']) {
      expect(reason(`db:${alias}`), alias).toBe(`alias ${JSON.stringify(alias)} is not a DNS label (1 to 63 letters, digits, '-' and '_')`);
    }
    // one part is a name and an alias both: a name that is no DNS label cannot be its own alias
    expect(reason('my.db')).toBe(`alias "my.db" is not a DNS label (1 to 63 letters, digits, '-' and '_')`);
  });

  it('prints a link as Docker does', () => {
    expect(linkText({ name: 'db', alias: 'dbalias' })).toBe('db:dbalias');
  });
});
